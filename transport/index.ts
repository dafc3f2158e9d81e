// transport: NATS — connecting, the stream and buckets, sessions, durable
// consumers, bucket following, pull loops, publishing, the control plane, the
// nats-server launcher and generated authorization.
export { connectNats, type ConnectOptions } from "./connect.js";
export {
  ensureInfrastructure,
  openInfrastructure,
  type Infrastructure,
  type InfrastructureOptions,
} from "./infrastructure.js";
export { openSession, startTrust, startKeyRegistry, type Session, type SessionOptions } from "./session.js";
export { ensureDurableConsumer } from "./consumer.js";
export { followBucket, type BucketFollower } from "./kv-follow.js";
export { pullLoop, type PullLoopOptions } from "./pull-loop.js";
export {
  publishWithRetry,
  publishEnvelope,
  publishEvent,
  signAndPublish,
  DEFAULT_PUBLISH_RETRY_MS,
} from "./publisher.js";
export { issueControl, ControlFollower } from "./control-plane.js";
export { apiCode, isNotFound, isNotReady, isWrongRevision, JS_CODES } from "./jetstream-errors.js";
export { backoffMs, sleep } from "./backoff.js";
export { NatsServer, ensureNatsServer, findNatsServer, type NatsServerOptions } from "./nats-server.js";
export { authorizationUsers, natsAuthorization } from "./authorization.js";
