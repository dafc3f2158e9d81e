// AgoraError: the one error class, with a stable `AGORA_ERR_…` code per failure.

/**
 * Every error code agora can raise: what it means, and the HTTP status the
 * gateway answers with. A code is never reused; `docs/errors.md` lists the
 * same set (a test keeps them equal).
 */
export const ERROR_CODES = {
  AGORA_ERR_BAD_JSON: { status: 400, message: "the bytes are not UTF-8 JSON" },
  AGORA_ERR_BAD_ENVELOPE: {
    status: 400,
    message: "the JSON is not a valid v1 envelope (missing, extra or mistyped field)",
  },
  AGORA_ERR_TOO_LARGE: {
    status: 413,
    message: "the envelope is larger than the limit (64 KiB by default), or a registry component than 64 MiB",
  },
  AGORA_ERR_UNKNOWN_SENDER: { status: 403, message: "no public key is registered for the sender" },
  AGORA_ERR_BAD_SIGNATURE: { status: 403, message: "the signature does not verify with the sender's key" },
  AGORA_ERR_CHANNEL_MISMATCH: {
    status: 400,
    message: "the envelope's channel differs from the subject it was published on",
  },
  AGORA_ERR_UNKNOWN_CHANNEL: { status: 404, message: "the channel is not declared in the configuration" },
  AGORA_ERR_NOT_GRANTED: { status: 403, message: "the agent has no grant for that channel" },
  AGORA_ERR_HOP_EXHAUSTED: { status: 409, message: "a message emitted while handling a hop-0 message was dropped" },
  AGORA_ERR_HOP_VIOLATION: {
    status: 409,
    message:
      "an answer (re) whose hop is not below the hop of the message it answers: it would reset the cascade's budget",
  },
  AGORA_ERR_BAD_NAME: { status: 400, message: "a name is not ^[a-z0-9][a-z0-9-]{0,62}$" },
  AGORA_ERR_BAD_BODY: { status: 400, message: "a body is not JSON text" },
  AGORA_ERR_BAD_STATE: { status: 400, message: "a state key or value is out of bounds" },
  AGORA_ERR_TIMER_LIMIT: {
    status: 400,
    message:
      "a timer was refused: a bad tag or delay, or the agent already has its maximum of timers (limits.maxTimers)",
  },
  AGORA_ERR_NO_ROLLOUT: {
    status: 409,
    message: "nothing to promote or roll back: the agent has no canary (and, for a rollback, no previous version)",
  },
  AGORA_ERR_COMPONENT_IN_USE: {
    status: 409,
    message:
      "a registry component an agent runs, has as a canary or previous version, or is configured with (remove with --force)",
  },
  AGORA_ERR_COMPONENT_IMPORTS: {
    status: 422,
    message: "a component imports something outside agora:agent and was refused at load",
  },
  AGORA_ERR_COMPONENT_UNSIGNED: {
    status: 422,
    message: "a registry component has no well-formed publisher-signed manifest for its name and version",
  },
  AGORA_ERR_COMPONENT_UNTRUSTED: {
    status: 422,
    message:
      "a registry component is signed by a publisher the config does not trust, or its signature does not verify",
  },
  AGORA_ERR_COMPONENT_DIGEST: {
    status: 422,
    message: "a registry component's bytes do not match the digest its publisher signed",
  },
  AGORA_ERR_COMPONENT_NOT_FOUND: { status: 404, message: "no component of that name and version in the registry" },
  AGORA_ERR_COMPONENT_LOAD: { status: 422, message: "a component could not be read, transpiled or instantiated" },
  AGORA_ERR_COMPONENT_TRAP: {
    status: 500,
    message: "a component trapped or returned an error while handling a message",
  },
  AGORA_ERR_DEADLINE: {
    status: 504,
    message: "a component's handle did not return within the per-call deadline; its worker was restarted",
  },
  AGORA_ERR_WORKER_RESTART: {
    status: 503,
    message: "a call was interrupted because its worker was restarted for another agent (retried)",
  },
  AGORA_ERR_AGENT_FAILED: {
    status: 503,
    message: "an agent trapped too often within the restart window and was marked failed",
  },
  AGORA_ERR_DEAD_LETTER: {
    status: 500,
    message: "a message kept failing up to max-deliver and was moved to agora.dlq.<agent>",
  },
  AGORA_ERR_TIMESTAMP: {
    status: 400,
    message: "an envelope's ts is further in the future than the allowed clock skew",
  },
  AGORA_ERR_CONFIG: { status: 500, message: "the configuration file is invalid" },
  AGORA_ERR_KEY_MISSING: { status: 404, message: "no private key for that identity in the key directory" },
  AGORA_ERR_KEY_EXISTS: { status: 409, message: "a key for that identity already exists" },
  AGORA_ERR_KEY_INVALID: { status: 400, message: "a key file or public key is malformed" },
  AGORA_ERR_NATS_SERVER_MISSING: { status: 503, message: "the nats-server binary is not installed" },
  AGORA_ERR_NATS_SERVER_START: { status: 503, message: "nats-server did not start" },
  AGORA_ERR_REQUEST_TIMEOUT: {
    status: 504,
    message: "no verified answer to a request arrived within its timeout",
  },
  AGORA_ERR_INFRA_MISSING: {
    status: 503,
    message: "agora's stream or buckets do not exist (the admin identity creates them at start-up)",
  },
  AGORA_ERR_NATS_CONNECT: { status: 503, message: "could not connect to NATS" },
  AGORA_ERR_PUBLISH: { status: 503, message: "JetStream did not acknowledge a publish" },
  AGORA_ERR_FACTS_FORMAT: { status: 422, message: "a facts file is not valid YAML in rivet artifact format" },
  AGORA_ERR_FACTS_CHAIN: { status: 422, message: "the facts hash chain is broken (edit, deletion or reordering)" },
  AGORA_ERR_FACTS_SIGNATURE: { status: 422, message: "a fact's signature does not verify" },
  AGORA_ERR_USAGE: { status: 400, message: "a command or request was called with wrong arguments" },
  AGORA_ERR_WEBHOOK_SIGNATURE: {
    status: 401,
    message: "a GitHub webhook's X-Hub-Signature-256 is missing or does not match the secret",
  },
  AGORA_ERR_WEBHOOK_PAYLOAD: {
    status: 422,
    message: "a GitHub webhook is not JSON, or does not have the shape of a GitHub event",
  },
  AGORA_ERR_GITHUB_API: {
    status: 502,
    message: "the GitHub API refused a call (4xx) or kept failing (429/5xx after retries)",
  },
  AGORA_ERR_UNAUTHORIZED: { status: 401, message: "no token, or an unknown token, was presented to the gateway" },
  AGORA_ERR_FORBIDDEN: { status: 403, message: "the token's role may not do this (viewer tried an operator action)" },
  AGORA_ERR_HOST_NAME_TAKEN: {
    status: 409,
    message: "another running host already uses this host name (host.name / AGORA_HOST_NAME must be unique)",
  },
  AGORA_ERR_LEASE_LOST: {
    status: 409,
    message: "a host lost an agent's placement lease (not renewed in time, or taken over); the agent stopped there",
  },
  AGORA_ERR_BAD_RECORD: {
    status: 422,
    message:
      "a record stored beside the stream (KV: WAL, lease, host record, status) is not well-formed; it was ignored",
  },
  AGORA_ERR_RATE_LIMITED: {
    status: 429,
    message: "too many requests from one source (failed logins, webhooks) or too many queued queries; try again later",
  },
  AGORA_ERR_DRAIN_TIMEOUT: { status: 504, message: "a drained host still held agents when the wait ran out" },
  AGORA_ERR_KILLED: {
    status: 403,
    message: "the identity is killed by the operator: its sends are refused and dropped until it is revived",
  },
  AGORA_ERR_SEND_BUDGET: {
    status: 429,
    message: "the identity sent more acts in the last minute than its budget (external.<name>.actsPerMinute)",
  },
  AGORA_ERR_CANCELLED: {
    status: 409,
    message: "the conversation was cancelled by its initiator or an operator: its later acts are dropped",
  },
  AGORA_ERR_DUPLICATE_ANSWER: {
    status: 409,
    message: "the same act was already sent in answer to that message (the ack-loop pattern); say deliberate to repeat",
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The HTTP status of an error code. */
export function httpStatus(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
}

/** An error as it crosses a thread or process boundary. */
export interface WireError {
  code: ErrorCode;
  message: string;
}

/** `err` as a WireError: its own code if it is an AgoraError, else `fallback`. */
export function toWireError(err: unknown, fallback: ErrorCode): WireError {
  if (err instanceof AgoraError) return { code: err.code, message: err.message };
  return { code: fallback, message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
}

/** An AgoraError from a WireError. */
export function fromWireError(e: WireError, options?: { cause?: unknown }): AgoraError {
  return new AgoraError(e.code, e.message, options);
}

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
