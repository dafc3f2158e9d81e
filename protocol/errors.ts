// AgoraError: the one error class, with a stable `AGORA_ERR_…` code per failure.

/**
 * Every error code agora can raise, with what it means. A code is never
 * reused; `docs/errors.md` lists the same set (a test keeps them equal).
 */
export const ERROR_CODES = {
  AGORA_ERR_BAD_JSON: "the bytes are not UTF-8 JSON",
  AGORA_ERR_BAD_ENVELOPE: "the JSON is not a valid v1 envelope (missing, extra or mistyped field)",
  AGORA_ERR_TOO_LARGE: "the envelope is larger than the limit (64 KiB by default)",
  AGORA_ERR_UNKNOWN_SENDER: "no public key is registered for the sender",
  AGORA_ERR_BAD_SIGNATURE: "the signature does not verify with the sender's key",
  AGORA_ERR_CHANNEL_MISMATCH: "the envelope's channel differs from the subject it was published on",
  AGORA_ERR_UNKNOWN_CHANNEL: "the channel is not declared in the configuration",
  AGORA_ERR_NOT_GRANTED: "the agent has no grant for that channel",
  AGORA_ERR_HOP_EXHAUSTED: "a message emitted while handling a hop-0 message was dropped",
  AGORA_ERR_BAD_NAME: "a name is not ^[a-z0-9][a-z0-9-]{0,62}$",
  AGORA_ERR_BAD_BODY: "a body is not JSON text",
  AGORA_ERR_BAD_STATE: "a state key or value is out of bounds",
  AGORA_ERR_COMPONENT_IMPORTS: "a component imports something outside agora:agent and was refused at load",
  AGORA_ERR_COMPONENT_LOAD: "a component could not be read, transpiled or instantiated",
  AGORA_ERR_COMPONENT_TRAP: "a component trapped or returned an error while handling a message",
  AGORA_ERR_DEADLINE: "a component's handle did not return within the per-call deadline; its worker was restarted",
  AGORA_ERR_WORKER_RESTART: "a call was interrupted because its worker was restarted for another agent (retried)",
  AGORA_ERR_AGENT_FAILED: "an agent trapped too often within the restart window and was marked failed",
  AGORA_ERR_DEAD_LETTER: "a message kept failing up to max-deliver and was moved to agora.dlq.<agent>",
  AGORA_ERR_TIMESTAMP: "an envelope's ts is further in the future than the allowed clock skew",
  AGORA_ERR_CONFIG: "the configuration file is invalid",
  AGORA_ERR_KEY_MISSING: "no private key for that identity in the key directory",
  AGORA_ERR_KEY_EXISTS: "a key for that identity already exists",
  AGORA_ERR_KEY_INVALID: "a key file or public key is malformed",
  AGORA_ERR_NATS_SERVER_MISSING: "the nats-server binary is not installed",
  AGORA_ERR_NATS_SERVER_START: "nats-server did not start",
  AGORA_ERR_NATS_CONNECT: "could not connect to NATS",
  AGORA_ERR_PUBLISH: "JetStream did not acknowledge a publish",
  AGORA_ERR_FACTS_FORMAT: "a facts file is not valid YAML in rivet artifact format",
  AGORA_ERR_FACTS_CHAIN: "the facts hash chain is broken (edit, deletion or reordering)",
  AGORA_ERR_FACTS_SIGNATURE: "a fact's signature does not verify",
  AGORA_ERR_USAGE: "a command or request was called with wrong arguments",
  AGORA_ERR_WEBHOOK_SIGNATURE: "a GitHub webhook's X-Hub-Signature-256 is missing or does not match the secret",
  AGORA_ERR_WEBHOOK_PAYLOAD: "a GitHub webhook is not JSON, or names a repository that is not bridged",
  AGORA_ERR_GITHUB_API: "the GitHub API refused a call (4xx) or kept failing (429/5xx after retries)",
  AGORA_ERR_UNAUTHORIZED: "no token, or an unknown token, was presented to the gateway",
  AGORA_ERR_FORBIDDEN: "the token's role may not do this (viewer tried an operator action)",
  AGORA_ERR_HOST_NAME_TAKEN: "another running host already uses this host name (host.name / AGORA_HOST_NAME must be unique)",
  AGORA_ERR_LEASE_LOST: "a host lost an agent's placement lease (not renewed in time, or taken over); the agent stopped there",
  AGORA_ERR_DRAIN_TIMEOUT: "a drained host still held agents when the wait ran out",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The base error of agora: a stable `code`, a message that says what to do, an optional cause. */
export class AgoraError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AgoraError";
    this.code = code;
  }

  override toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

/** True when `err` is an AgoraError, optionally with the given code. */
export function isAgoraError(err: unknown, code?: ErrorCode): err is AgoraError {
  return err instanceof AgoraError && (code === undefined || err.code === code);
}
