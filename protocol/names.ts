// Names of agents and channels: one NATS subject token, nothing injectable.
import { AgoraError } from "./errors.js";

/** Agent and channel names. No `.`, `*`, `>` or whitespace can get in. */
export const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Envelope ids. */
export const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function isName(value: unknown): value is string {
  return typeof value === "string" && NAME_RE.test(value);
}

/** Throws AGORA_ERR_BAD_NAME naming `what` when `value` is not a valid name. */
export function assertName(value: unknown, what: string): asserts value is string {
  if (!isName(value)) {
    throw new AgoraError(
      "AGORA_ERR_BAD_NAME",
      `${what} ${JSON.stringify(value)} is not a valid name: use 1–63 of [a-z0-9-], starting with a letter or digit`,
    );
  }
}

/** Throws AGORA_ERR_BAD_ENVELOPE naming `what` when `value` is not an envelope id. */
export function assertId(value: unknown, what: string): asserts value is string {
  if (typeof value !== "string" || !ID_RE.test(value)) {
    throw new AgoraError(
      "AGORA_ERR_BAD_ENVELOPE",
      `${what} ${JSON.stringify(value)} is not an id: 1–64 of [A-Za-z0-9_-]`,
    );
  }
}

/** The facts recorder's identity: it signs the facts files' heads. */
export const RECORDER_IDENTITY = "recorder";

/**
 * The identity that creates and updates agora's streams and buckets (at start-up,
 * by `agora up` or `agora host` when its key is in the key directory) and
 * registers local keys. No other identity may change or delete them.
 */
export const ADMIN_IDENTITY = "agora-admin";

/** Names the system's own identities take: no agent, host or service may be named so. */
export const RESERVED_IDENTITIES: readonly string[] = [RECORDER_IDENTITY, ADMIN_IDENTITY];
