// connect: an external agent joins agora with its own Ed25519 key — which is
// also its NATS nkey — and gets a handle to speak with. The next steps (a
// durable verified inbox, request/reply, presence) build on this handle.
import { DEFAULTS } from "../config/defaults.js";
import type { PubAck } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Act, Envelope } from "../protocol/envelope.js";
import { AgoraError } from "../protocol/errors.js";
import { assertName } from "../protocol/names.js";
import { connectNats } from "../transport/connect.js";
import { identityOf, KeyStore, type Identity } from "../trust/key-store.js";
import type { RawKeyPair } from "../trust/signing.js";
import { AgoraClient, type SendOptions } from "./client.js";

export interface ConnectOptions {
  /** The agent's name (`^[a-z0-9][a-z0-9-]{0,62}$`). */
  name: string;
  /** Its key pair (base64url raw Ed25519, as `agora keys gen` writes it). */
  key?: RawKeyPair;
  /** Or the directory holding `<name>.key` (an agora key directory, e.g. `.agora/keys`). */
  keysDir?: string;
  /** NATS server URL(s). @default "nats://127.0.0.1:4222" */
  servers?: string | string[];
  /** Log in to NATS with the agent's key as its nkey. @default true */
  nkey?: boolean;
  /** Give up after this many ms on the first connect. @default 5000 */
  timeoutMs?: number;
}

/** A connected external agent. */
export interface Agent {
  readonly name: string;
  readonly publicKey: string;
  /** Sign a speech act with the agent's key and publish it on `channel`. */
  send(channel: string, act: Act, body: unknown, options?: SendOptions): Promise<{ env: Envelope; ack: PubAck }>;
  /** Resolves when the connection ends: undefined after close(), else why. */
  closed(): Promise<void | Error>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Connect as an external agent. AGORA_ERR_KEY_MISSING without a key, AGORA_ERR_NATS_CONNECT when NATS is unreachable. */
export async function connect(options: ConnectOptions): Promise<Agent> {
  assertName(options.name, "agent name");
  let identity: Identity;
  if (options.key) identity = identityOf(options.name, options.key);
  else if (options.keysDir) identity = new KeyStore(options.keysDir).load(options.name);
  else
    throw new AgoraError(
      "AGORA_ERR_KEY_MISSING",
      `connect needs the key of ${options.name}: pass key, or keysDir holding ${options.name}.key (agora keys gen ${options.name})`,
    );
  const servers = options.servers ?? `nats://${DEFAULTS.nats.host}:${DEFAULTS.nats.port}`;
  const nc: NatsConnection = await connectNats({
    url: Array.isArray(servers) ? servers.join(",") : servers,
    name: `agora-${options.name}`,
    identity: options.nkey === false ? undefined : identity,
    timeoutMs: options.timeoutMs,
  });
  const client = new AgoraClient(nc, identity);
  let closing = false;
  const ended = nc.closed().then((err) => (closing ? undefined : (err ?? new Error("connection closed"))));
  const close = async () => {
    closing = true;
    await nc.drain().catch(() => {});
  };
  return {
    name: identity.name,
    publicKey: identity.publicKey,
    send: (channel, act, body, sendOptions) => client.send(channel, act, body, sendOptions),
    closed: () => ended,
    close,
    [Symbol.asyncDispose]: close,
  };
}
