// connectNats: one NATS connection, optionally logged in with an identity's nkey.
import { connect, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { AgoraError } from "../protocol/errors.js";
import type { Identity } from "../trust/key-store.js";
import { userSeed } from "../trust/nkeys.js";
import { inboxPrefix } from "../protocol/subjects.js";

export interface ConnectOptions {
  url: string;
  name: string;
  /** Authenticate with this identity's key as a NATS nkey. */
  identity?: Identity;
  /** Give up after this many ms on the first connect. @default 5000 */
  timeoutMs?: number;
}

/** Connect with unlimited reconnects; AGORA_ERR_NATS_CONNECT on failure to reach the server. */
export async function connectNats(options: ConnectOptions): Promise<NatsConnection> {
  try {
    return await connect({
      servers: options.url
        .split(",")
        .map((u) => u.trim())
        .filter(Boolean),
      name: options.name,
      timeout: options.timeoutMs ?? 5000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // No stack captured per request (every publish is one): a tenth of the message path's CPU otherwise.
      noAsyncTraces: true,
      // Logged in as an identity, its replies and deliveries come under its own inbox prefix.
      ...(options.identity
        ? {
            authenticator: nkeyAuthenticator(userSeed(options.identity.seed)),
            inboxPrefix: inboxPrefix(options.identity.name),
          }
        : {}),
    });
  } catch (cause) {
    throw new AgoraError(
      "AGORA_ERR_NATS_CONNECT",
      `cannot connect to NATS at ${options.url}: ${(cause as Error).message}; start one with 'agora up' or unset NATS_URL`,
      { cause },
    );
  }
}
