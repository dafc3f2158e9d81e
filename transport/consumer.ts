// ensureDurableConsumer: the one way a durable pull consumer is made — looked up,
// created when JetStream says it does not exist, then bound.
import {
  AckPolicy,
  DeliverPolicy,
  type Consumer,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { isNotFound } from "./jetstream-errors.js";

/** The durable consumer `config.durable_name` on `stream`, created with `config` if missing. */
export async function ensureDurableConsumer(
  nats: { js: JetStreamClient; jsm: JetStreamManager },
  stream: string,
  config: Partial<ConsumerConfig> & { durable_name: string },
): Promise<Consumer> {
  try {
    await nats.jsm.consumers.info(stream, config.durable_name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await nats.jsm.consumers.add(stream, config);
  }
  return nats.js.consumers.get(stream, config.durable_name);
}

/** A watch consumer left behind (the watcher died) is removed by JetStream after this. */
export const WATCH_INACTIVE_MS = 30_000;

/**
 * A live view of `stream` through the named ephemeral consumer `name`, which the
 * caller owns: any previous one of that name is removed first, so a watch always
 * starts where `deliver` says. Unacknowledged: a watcher may miss messages, never stall anything.
 */
export async function openWatchConsumer(
  nats: { js: JetStreamClient; jsm: JetStreamManager },
  stream: string,
  name: string,
  options: { filter?: string; deliver: "all" | "new" },
): Promise<Consumer> {
  await nats.jsm.consumers.delete(stream, name).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
  await nats.jsm.consumers.add(stream, {
    name,
    ...(options.filter ? { filter_subject: options.filter } : {}),
    deliver_policy: options.deliver === "all" ? DeliverPolicy.All : DeliverPolicy.New,
    ack_policy: AckPolicy.None,
    inactive_threshold: nanos(WATCH_INACTIVE_MS),
  });
  return nats.js.consumers.get(stream, name);
}
