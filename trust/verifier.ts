// Verifier: the first control. Every envelope is checked here before anything else.
import type { AgoraConfig } from "../config/config.js";
import { grantOf, systemIdentities } from "../config/config.js";
import { eventSigningInput, RECORDED_EVENTS, subjectOfEvent, type SignedEvent } from "../protocol/events.js";
import { AgoraError, type ErrorCode } from "../protocol/errors.js";
import { parseEnvelope, type Envelope } from "../protocol/envelope.js";
import type { KeyRegistry } from "./key-registry.js";
import { isName } from "../protocol/names.js";
import { subjectChannel } from "../protocol/subjects.js";
import { verifyBytes, verifyEnvelope } from "./signing.js";

export type EventVerdict = { ok: true; event: SignedEvent } | { ok: false; code: ErrorCode; reason: string };

/** An event's shape: known names, and scalar fields only (no nested values can reach a fact). */
function wellFormedEvent(e: Record<string, unknown>): boolean {
  if (!isName(e.agent) || !isName(e.host) || typeof e.sig !== "string" || typeof e.ts !== "string") return false;
  return Object.values(e).every((v) => v === undefined || typeof v === "string" || typeof v === "number");
}

export type Verdict = { ok: true; env: Envelope } | { ok: false; code: ErrorCode; reason: string; env?: Envelope };

/** Messages whose hop a verifier remembers, to hold answers to them below it. @default 50000 */
export const REMEMBERED_HOPS = 50_000;

export class Verifier {
  private readonly channels: ReadonlySet<string>;
  private readonly system: ReadonlySet<string>;
  /** Hop of each message verified lately, by id (oldest forgotten first). */
  private readonly hops = new Map<string, number>();

  constructor(
    private readonly config: AgoraConfig,
    private readonly keys: KeyRegistry,
    /** Looks a sender up in the key bucket when it is not known yet. */
    private readonly refresh?: (name: string) => Promise<unknown>,
  ) {
    this.channels = new Set(config.channels);
    this.system = systemIdentities(config);
  }

  /**
   * Check a host decision published on `agora.ev.<type>`: JSON, a recorded
   * type matching the subject, scalar fields, and a signature by one of the
   * system's identities (hosts, gateway, bridge). Never throws.
   */
  checkEvent(data: Uint8Array, subject: string): EventVerdict {
    let event: SignedEvent;
    try {
      event = JSON.parse(Buffer.from(data).toString("utf8")) as SignedEvent;
    } catch {
      return { ok: false, code: "AGORA_ERR_BAD_JSON", reason: "host event is not JSON" };
    }
    if (
      !RECORDED_EVENTS.has(event?.type) ||
      subjectOfEvent(event) !== subject ||
      !wellFormedEvent(event as unknown as Record<string, unknown>)
    ) {
      return { ok: false, code: "AGORA_ERR_BAD_ENVELOPE", reason: "not a well-formed host event" };
    }
    const key = this.system.has(event.host) ? this.keys.get(event.host) : undefined;
    if (!key || !verifyBytes(key, eventSigningInput(event), event.sig)) {
      return {
        ok: false,
        code: "AGORA_ERR_BAD_SIGNATURE",
        reason: `host event not signed by a system identity (${event.host})`,
      };
    }
    return { ok: true, event };
  }

  /** The hop of a message this verifier has seen, if it has. */
  hopOf(id: string): number | undefined {
    return this.hops.get(id);
  }

  /** Note a message's hop (first seen wins), so answers to it are held below it. */
  remember(env: Pick<Envelope, "id" | "hop">): void {
    if (this.hops.has(env.id)) return;
    this.hops.set(env.id, env.hop);
    if (this.hops.size > REMEMBERED_HOPS) this.hops.delete(this.hops.keys().next().value!);
  }

  /** check(), but an unknown sender is looked up once in the key bucket before being rejected. */
  async verify(data: Uint8Array, subject: string): Promise<Verdict> {
    const verdict = this.check(data, subject);
    if (verdict.ok || verdict.code !== "AGORA_ERR_UNKNOWN_SENDER" || !this.refresh || !verdict.env) return verdict;
    await this.refresh(verdict.env.sender);
    return this.check(data, subject);
  }

  /**
   * Check raw bytes published on `subject`: size, JSON, envelope shape,
   * subject/channel match, declared channel, known sender, signature, and the
   * sender's write grant. Never throws.
   */
  check(data: Uint8Array, subject: string): Verdict {
    try {
      return this.checkUnsafe(data, subject);
    } catch (err) {
      // Never throws: anything unexpected in hostile input is a rejection, not a crash.
      return {
        ok: false,
        code: "AGORA_ERR_BAD_ENVELOPE",
        reason: `unverifiable envelope: ${String((err as Error).message ?? err).slice(0, 200)}`,
      };
    }
  }

  private checkUnsafe(data: Uint8Array, subject: string): Verdict {
    let env: Envelope;
    try {
      env = parseEnvelope(data, this.config.limits.maxEnvelopeBytes);
    } catch (err) {
      if (err instanceof AgoraError) return { ok: false, code: err.code, reason: err.message };
      return { ok: false, code: "AGORA_ERR_BAD_ENVELOPE", reason: String(err) };
    }
    const fail = (code: ErrorCode, reason: string): Verdict => ({ ok: false, code, reason, env });
    if (subjectChannel(subject) !== env.channel) {
      return fail("AGORA_ERR_CHANNEL_MISMATCH", `published on ${subject} but names channel ${env.channel}`);
    }
    if (!this.channels.has(env.channel))
      return fail("AGORA_ERR_UNKNOWN_CHANNEL", `channel ${env.channel} is not declared`);
    if (Date.parse(env.ts) - Date.now() > this.config.limits.maxClockSkewMs) {
      return fail(
        "AGORA_ERR_TIMESTAMP",
        `ts ${env.ts} is more than ${this.config.limits.maxClockSkewMs} ms in the future`,
      );
    }
    const key = this.keys.get(env.sender);
    if (!key) return fail("AGORA_ERR_UNKNOWN_SENDER", `no public key registered for ${env.sender}`);
    if (!verifyEnvelope(key, env))
      return fail("AGORA_ERR_BAD_SIGNATURE", `signature does not verify for ${env.sender}`);
    if (!grantOf(this.config, env.sender)?.write.includes(env.channel)) {
      return fail("AGORA_ERR_NOT_GRANTED", `${env.sender} may not write ${env.channel}`);
    }
    // The hop budget does not rest on the sender's good will: an answer to a message this verifier
    // knows must travel below that message's hop, or any client could restart a cascade at full budget.
    const parent = env.re === undefined ? undefined : this.hops.get(env.re);
    if (parent !== undefined && env.hop >= parent) {
      return fail(
        "AGORA_ERR_HOP_VIOLATION",
        `${env.sender} answers ${env.re} (hop ${parent}) at hop ${env.hop}: an answer's hop must be below its message's`,
      );
    }
    this.remember(env);
    return { ok: true, env };
  }
}
