// Verifier: the first control. Every envelope is checked here before anything else.
import type { AgoraConfig } from "./config.js";
import { grantOf } from "./config.js";
import { AgoraError, type ErrorCode } from "./errors.js";
import { parseEnvelope, type Envelope } from "./envelope.js";
import type { KeyRegistry } from "./key-registry.js";
import { subjectChannel } from "./names.js";
import { verifyEnvelope } from "./signing.js";

export type Verdict =
  | { ok: true; env: Envelope }
  | { ok: false; code: ErrorCode; reason: string; env?: Envelope };

export class Verifier {
  private readonly channels: ReadonlySet<string>;

  constructor(
    private readonly config: AgoraConfig,
    private readonly keys: KeyRegistry,
    /** Looks a sender up in the key bucket when it is not known yet. */
    private readonly refresh?: (name: string) => Promise<unknown>,
  ) {
    this.channels = new Set(config.channels);
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
      return { ok: false, code: "AGORA_ERR_BAD_ENVELOPE", reason: `unverifiable envelope: ${String((err as Error).message ?? err).slice(0, 200)}` };
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
    if (!this.channels.has(env.channel)) return fail("AGORA_ERR_UNKNOWN_CHANNEL", `channel ${env.channel} is not declared`);
    if (Date.parse(env.ts) - Date.now() > this.config.limits.maxClockSkewMs) {
      return fail("AGORA_ERR_TIMESTAMP", `ts ${env.ts} is more than ${this.config.limits.maxClockSkewMs} ms in the future`);
    }
    const key = this.keys.get(env.sender);
    if (!key) return fail("AGORA_ERR_UNKNOWN_SENDER", `no public key registered for ${env.sender}`);
    if (!verifyEnvelope(key, env)) return fail("AGORA_ERR_BAD_SIGNATURE", `signature does not verify for ${env.sender}`);
    if (!grantOf(this.config, env.sender)?.write.includes(env.channel)) {
      return fail("AGORA_ERR_NOT_GRANTED", `${env.sender} may not write ${env.channel}`);
    }
    return { ok: true, env };
  }
}
