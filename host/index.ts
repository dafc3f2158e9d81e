// host: the trusted core — envelopes, signatures, controls, components, NATS.
export { AgoraError, ERROR_CODES, isAgoraError, type ErrorCode } from "./errors.js";
export { ACTS, isAct, parseEnvelope, validateEnvelope, signingInput, encodeEnvelope, MAX_HOP, DEFAULT_MAX_ENVELOPE_BYTES, type Act, type Envelope, type UnsignedEnvelope } from "./envelope.js";
export { canonicalize } from "./jcs.js";
export { NAME_RE, isName, assertName, channelSubject } from "./names.js";
export { generateRawKeyPair, publicKeyObject, privateKeyObject, signEnvelope, verifyEnvelope, type RawKeyPair } from "./signing.js";
export { KeyStore, type Identity } from "./key-store.js";
export { KeyRegistry } from "./key-registry.js";
export { loadConfig, parseConfig, grantOf, DEFAULT_HOP, type AgoraConfig, type Grant } from "./config.js";
export { NatsServer, ensureNatsServer, findNatsServer, type NatsServerOptions } from "./nats-server.js";
export { connectNats, ensureInfrastructure, openInfrastructure, STREAM, KEYS_BUCKET, STATE_BUCKET, PROCESSED_BUCKET } from "./nats.js";
export { ComponentLoader, ALLOWED_IMPORTS, forbiddenImports, type LoadedComponent } from "./component-loader.js";
export { Host, consumerName, type HostOptions, type HostCounters } from "./host.js";
export { AgoraClient, type SendOptions } from "./client.js";
export { Verifier, type Verdict, type EventVerdict } from "./verifier.js";
export { startKeyRegistry, startTrust } from "./trust.js";
export type { HostEvent, HostEventType } from "./events.js";
