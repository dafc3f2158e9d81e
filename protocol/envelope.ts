// Envelope v1: the fixed wire format (docs/wire.md), parsed and checked.
import { AgoraError } from "./errors.js";
import { canonicalize } from "./jcs.js";
import { ID_RE, isName } from "./names.js";

/** The 22 FIPA-ACL performatives, kebab-case. */
export const ACTS = [
  "accept-proposal",
  "agree",
  "cancel",
  "cfp",
  "confirm",
  "disconfirm",
  "failure",
  "inform",
  "inform-if",
  "inform-ref",
  "not-understood",
  "propagate",
  "propose",
  "proxy",
  "query-if",
  "query-ref",
  "refuse",
  "reject-proposal",
  "request",
  "request-when",
  "request-whenever",
  "subscribe",
] as const;

export type Act = (typeof ACTS)[number];

const ACT_SET: ReadonlySet<string> = new Set(ACTS);

export function isAct(value: unknown): value is Act {
  return typeof value === "string" && ACT_SET.has(value);
}

/** A speech act as it travels on `agora.ch.<channel>`. */
export interface Envelope {
  v: 1;
  id: string;
  channel: string;
  sender: string;
  act: Act;
  body: unknown;
  hop: number;
  ts: string;
  re?: string;
  conv?: string;
  sig: string;
}

/** An envelope before it is signed. */
export type UnsignedEnvelope = Omit<Envelope, "sig">;

/** The wire format's size limit of a serialized envelope (limits.maxEnvelopeBytes defaults to it). */
export const MAX_ENVELOPE_BYTES = 64 * 1024;
/** The hop budget can never exceed this. */
export const MAX_HOP = 16;
/** The hop budget of an injected message unless said otherwise (limits.hop). */
export const DEFAULT_HOP = 3;

const FIELDS = new Set(["v", "id", "channel", "sender", "act", "body", "hop", "ts", "re", "conv", "sig"]);
const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const SIG_RE = /^[A-Za-z0-9_-]{86}$/;
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The exact bytes an Ed25519 signature covers. */
export function signingInput(env: UnsignedEnvelope | Envelope): Buffer {
  const { sig: _sig, ...unsigned } = env as Envelope;
  return Buffer.from(`agora-envelope-v1\n${canonicalize(unsigned)}`, "utf8");
}

function bad(message: string): AgoraError {
  return new AgoraError("AGORA_ERR_BAD_ENVELOPE", message);
}

/**
 * Parse and structurally validate raw bytes as an envelope (no signature check).
 * Throws AgoraError with AGORA_ERR_TOO_LARGE, _BAD_JSON or _BAD_ENVELOPE.
 */
export function parseEnvelope(data: Uint8Array, maxBytes = MAX_ENVELOPE_BYTES): Envelope {
  if (data.byteLength > maxBytes) {
    throw new AgoraError("AGORA_ERR_TOO_LARGE", `envelope is ${data.byteLength} bytes; the limit is ${maxBytes}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch (cause) {
    throw new AgoraError("AGORA_ERR_BAD_JSON", "envelope is not UTF-8 JSON", { cause });
  }
  return validateEnvelope(value);
}

/** Deepest nesting a body may have (canonicalization is recursive). */
export const MAX_BODY_DEPTH = 64;

/** A lone surrogate: a UTF-16 half with no partner, which I-JSON (RFC 7493) forbids. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Why a JSON value may not be a body, or undefined: nested deeper than `limit`,
 * or not I-JSON (a lone surrogate in a string or a member name). One walk,
 * without recursion, stopping at the first problem.
 */
export function bodyProblem(value: unknown, limit = MAX_BODY_DEPTH): string | undefined {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (d > limit) return `body is nested deeper than ${limit} levels`;
    if (typeof v === "string") {
      if (LONE_SURROGATE.test(v)) return "body is not I-JSON: it holds a lone surrogate (RFC 7493)";
    } else if (Array.isArray(v)) {
      for (const c of v) stack.push([c, d + 1]);
    } else if (v !== null && typeof v === "object") {
      for (const [k, c] of Object.entries(v)) {
        if (LONE_SURROGATE.test(k)) return "body is not I-JSON: it holds a lone surrogate (RFC 7493)";
        stack.push([c, d + 1]);
      }
    }
  }
  return undefined;
}

/** Validate an already-parsed value as an envelope. */
export function validateEnvelope(value: unknown): Envelope {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad("envelope is not a JSON object");
  const e = value as Record<string, unknown>;
  for (const key of Object.keys(e))
    if (!FIELDS.has(key)) throw bad(`unknown field ${JSON.stringify(key).slice(0, 80)}`);
  if (e.v !== 1) throw bad("v must be 1");
  if (typeof e.id !== "string" || !ID_RE.test(e.id)) throw bad("id must be 1-64 chars of [A-Za-z0-9_-]");
  if (!isName(e.channel)) throw bad("channel is not a valid name");
  if (!isName(e.sender)) throw bad("sender is not a valid name");
  if (!isAct(e.act)) throw bad("act is not one of the 22 performatives");
  if (!("body" in e) || e.body === undefined) throw bad("body is missing");
  const problem = bodyProblem(e.body);
  if (problem) throw bad(problem);
  if (typeof e.hop !== "number" || !Number.isInteger(e.hop) || e.hop < 0 || e.hop > MAX_HOP) {
    throw bad(`hop must be an integer 0-${MAX_HOP}`);
  }
  if (typeof e.ts !== "string" || !TS_RE.test(e.ts) || Number.isNaN(Date.parse(e.ts))) {
    throw bad("ts must be RFC 3339 UTC (e.g. 2026-11-21T04:22:42.803Z)");
  }
  if (e.re !== undefined && (typeof e.re !== "string" || !ID_RE.test(e.re))) throw bad("re must be an id");
  if (e.conv !== undefined && (typeof e.conv !== "string" || !ID_RE.test(e.conv))) throw bad("conv must be an id");
  if (typeof e.sig !== "string" || !SIG_RE.test(e.sig)) throw bad("sig must be 86 chars of base64url");
  return e as unknown as Envelope;
}

/** Serialize an envelope for the wire (field order is irrelevant: signatures cover JCS). */
export function encodeEnvelope(env: Envelope): Uint8Array {
  return Buffer.from(JSON.stringify(env), "utf8");
}
