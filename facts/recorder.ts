// Recorder: one durable consumer over the whole AGORA stream; one fact per stream sequence.
import { createHash } from "node:crypto";
import { AckPolicy, DeliverPolicy, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { AgoraConfig } from "../config/config.js";
import type { ErrorCode } from "../protocol/errors.js";
import { openSession } from "../transport/session.js";
import type { KeyRegistry } from "../trust/key-registry.js";
import type { Identity } from "../trust/key-store.js";
import type { Infrastructure } from "../transport/infrastructure.js";
import { pullLoop } from "../transport/pull-loop.js";
import type { Verifier } from "../trust/verifier.js";
import { factDigest, factId, RECORDER, signDigest, type Fact, type FactType } from "./fact.js";
import { EVENT_FACTS } from "../protocol/events.js";
import { FactLog } from "./fact-log.js";
import { EVENT_PREFIX, RECORDER_CONSUMER, STREAM } from "../protocol/subjects.js";
import { RECORDER_IDENTITY } from "../protocol/names.js";
import { ensureDurableConsumer } from "../transport/consumer.js";
import { ControlFollower } from "../transport/control-plane.js";
import { senderKillable } from "../config/config.js";
import { keysOf } from "../transport/kv-list.js";
import { mayCancel } from "../protocol/conversation.js";
import { SenderStanding } from "../trust/budget.js";
import { parseCancel, type CancelRecord } from "../protocol/records.js";
import type { Envelope } from "../protocol/envelope.js";

/** The recorder's identity in the key directory and KV. */
export { RECORDER_IDENTITY };
const RAW_HEAD_BYTES = 1024;
/** Attempts at writing a batch of facts to disk before the recorder stops (it resumes there when restarted). */
const WRITE_ATTEMPTS = 5;
const REMEMBERED_CANCELS = 100_000;

/** Facts not on disk yet, the deliveries they acknowledge, the last one's digest, failed writes so far. */
function emptyBatch(): { facts: Fact[]; acks: JsMsg[]; digest: string; attempts: number } {
  return { facts: [], acks: [], digest: "", attempts: 0 };
}

/** Ack or nak a delivery; on a closed connection it simply comes back after ack_wait. */
function settle(m: JsMsg, how: "ack" | "nak"): void {
  try {
    if (how === "ack") m.ack();
    else m.nak();
  } catch {
    // closed: redelivered to the next recorder
  }
}

/** The envelope ids a body cites: the `id` of each entry of its `votes` (a ballot's decision). */
function cited(body: unknown): string[] {
  const votes = (body as { votes?: unknown } | null)?.votes;
  if (!Array.isArray(votes)) return [];
  return votes.flatMap((v) => {
    const id = (v as { id?: unknown } | null)?.id;
    return typeof id === "string" ? [id] : [];
  });
}

/** What the recorder needs of a stream message (a delivery or a direct get). */
interface StreamMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  /** When the stream stored it (server time). */
  time: Date;
}

export interface RecorderOptions {
  config: AgoraConfig;
  nc: NatsConnection;
  log?: (line: string) => void;
}

export class Recorder {
  readonly facts: FactLog;
  /** Facts written by this process. */
  recorded = 0;
  private readonly options: RecorderOptions;
  private infra?: Infrastructure;
  private registry?: KeyRegistry;
  private verifier?: Verifier;
  private identity?: Identity;
  private controls?: ControlFollower;
  /** Send budgets, counted over every act as readers count them: an act beyond one may not end a conversation. */
  private standing?: SenderStanding;
  private closing = false;
  private loop?: Promise<void>;
  /** Why recording stopped on its own, if it did. */
  private failure?: Error;
  private readonly waiters = new Set<{ seq: number; resolve: () => void }>();
  /**
   * Facts chained and signed, not on disk yet, and the deliveries they acknowledge: written together
   * once this turn of the event loop is over (one append, one socket write for the acks), acked after.
   */
  private pending = emptyBatch();
  private writing?: NodeJS.Immediate | NodeJS.Timeout;
  /** The last stream sequence chained (on disk or pending) and its fact's digest: the next fact's `prev`. */
  private head = { seq: 0, digest: "" };
  /** Cancelled conversations → the cancel's id and stream seq (agora-convs, as written here; the most recent 100k). */
  private readonly cancelled = new Map<string, { id: string; seq: number }>();
  /** The hosted agents of the config (only their acts name a component). */
  private readonly hosted: ReadonlySet<string>;

  private constructor(options: RecorderOptions) {
    this.options = options;
    this.facts = new FactLog(options.config.factsDir, options.config.limits.factsMaxFileBytes);
    this.hosted = new Set(options.config.agents.map((a) => a.name));
  }

  static async start(options: RecorderOptions): Promise<Recorder> {
    const r = new Recorder(options);
    await r.start();
    return r;
  }

  private async start(): Promise<void> {
    const { config, nc } = this.options;
    const session = await openSession(config, nc, { identity: RECORDER_IDENTITY });
    ({ infra: this.infra, identity: this.identity, registry: this.registry, verifier: this.verifier } = session);
    // Who the operator killed: what such an identity publishes is recorded as said, with status "killed".
    this.controls = new ControlFollower(nc, this.infra.control, this.registry, config.controllers, undefined, () => {});
    await this.controls.start();
    this.standing = new SenderStanding(config, this.controls.state);
    this.facts.open();
    for (const key of await keysOf(this.infra.convs)) {
      const e = await this.infra.convs.get(key);
      const c = e?.operation === "PUT" ? parseCancel(e.value) : undefined;
      if (c) this.cancelled.set(c.conv, { id: c.id, seq: c.seq });
    }
    if (this.facts.repaired) {
      const r = this.facts.repaired;
      this.options.log?.(
        `recorder: ${r.file} ended in a record cut short (${r.bytes} bytes, kept in ${r.aside}); re-recording from the stream after seq ${this.facts.lastSeq}`,
      );
    }
    this.facts.noteKey(RECORDER_IDENTITY, this.identity.publicKey);
    this.head = { seq: this.facts.lastSeq, digest: this.facts.lastDigest };
    const consumer = await ensureDurableConsumer(this.infra, STREAM, {
      durable_name: RECORDER_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 10_000,
    });
    // Facts the log lost (a file cut short by a crash) but the consumer already acked: record them again from the stream.
    const info = await this.infra.jsm.consumers.info(STREAM, RECORDER_CONSUMER);
    if (info.ack_floor.stream_seq > this.facts.lastSeq) await this.fillTo(info.ack_floor.stream_seq + 1);
    this.loop = pullLoop(
      consumer,
      async (m) => {
        // Strictly in order: retry the same message; if it keeps failing, stop
        // (without acking) rather than skip a sequence and break the chain.
        for (let attempt = 1; ; attempt++) {
          try {
            await this.record(m);
            return;
          } catch (err) {
            this.options.log?.(`recorder: seq ${m.seq}: ${String(err)} (attempt ${attempt})`);
            if (attempt >= 5) {
              this.closing = true;
              this.failure = new Error(`recorder stopped at seq ${m.seq}: ${String(err)}`);
              this.options.log?.(`recorder stopped at seq ${m.seq}; it resumes there when restarted`);
              m.nak();
              return;
            }
            await new Promise((r) => setTimeout(r, 200 * attempt));
          }
        }
      },
      {
        batch: 512,
        closing: () => this.closing,
        onError: (err) => this.options.log?.(`recorder: pull failed: ${String(err)}`),
      },
    );
  }

  /** Record every stream message from the head + 1 up to (not including) `seq`, fetched directly. */
  private async fillTo(seq: number): Promise<void> {
    for (let s = this.head.seq + 1; s < seq; s++) {
      const stored = await this.infra!.jsm.streams.getMessage(STREAM, { seq: s }).catch(() => null);
      if (stored) await this.write({ seq: s, subject: stored.subject, data: stored.data, time: stored.time });
      else this.options.log?.(`recorder: seq ${s} is no longer in the stream; the facts will show it missing`);
    }
  }

  /** Resolves once the fact for stream sequence `seq` is on disk. */
  waitFor(seq: number, timeoutMs = 10_000): Promise<void> {
    if (this.facts.lastSeq >= seq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { seq, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`fact for seq ${seq} not recorded within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  private async record(m: JsMsg): Promise<void> {
    if (m.seq <= this.head.seq) {
      // Recorded already (exactly once per stream sequence): acked once its fact is on disk.
      if (m.seq <= this.facts.lastSeq) m.ack();
      else this.pending.acks.push(m);
      return;
    }
    if (m.seq > this.head.seq + 1) await this.fillTo(m.seq); // a redelivery came late: keep stream order
    if (await this.write(m)) this.pending.acks.push(m);
    else settle(m, "nak"); // recording stopped: it comes back when the recorder is restarted
  }

  /**
   * Chain and sign the fact of `m`; it goes to disk with the others of this turn (flush). False when
   * recording has stopped (a write failed for good): nothing is chained after that.
   */
  private async write(m: StreamMessage): Promise<boolean> {
    if (m.seq <= this.head.seq) return true;
    const fact = m.subject.startsWith(EVENT_PREFIX) ? this.eventFact(m) : await this.speechFact(m);
    if (this.failure || m.seq <= this.head.seq) return !this.failure;
    fact.fields.prev = this.head.digest;
    const digest = factDigest(fact);
    signDigest(fact, digest, this.identity!.privateKey);
    this.head = { seq: m.seq, digest };
    this.facts.remember(fact); // the next fact looks it up (components, initiators) before it is on disk
    this.pending.facts.push(fact);
    this.pending.digest = digest;
    this.writing ??= setImmediate(() => this.flush());
    return true;
  }

  /**
   * Write the pending facts in one append, then acknowledge their deliveries and wake who waits for
   * them. A write that fails is tried again (the facts stay pending, in order); after WRITE_ATTEMPTS
   * the recorder stops where its log ends, without acking, and resumes there when restarted.
   */
  private flush(final = false): void {
    this.writing = undefined;
    const batch = this.pending;
    if (batch.facts.length === 0 && batch.acks.length === 0) return;
    try {
      this.facts.append(batch.facts, batch.digest);
    } catch (err) {
      batch.attempts++;
      this.options.log?.(
        `recorder: writing facts up to seq ${this.head.seq}: ${String(err)} (attempt ${batch.attempts})`,
      );
      if (batch.attempts < WRITE_ATTEMPTS && !final) {
        this.writing = setTimeout(() => this.flush(), 200 * batch.attempts);
        return;
      }
      // Stop where the log ends: nothing more is chained (write), nothing pending is acked.
      this.closing = true;
      this.failure = new Error(`recorder stopped at seq ${this.facts.lastSeq + 1}: ${String(err)}`);
      this.options.log?.(`recorder stopped at seq ${this.facts.lastSeq + 1}; it resumes there when restarted`);
      for (const m of batch.acks) settle(m, "nak");
      this.pending = emptyBatch();
      return;
    }
    this.pending = emptyBatch();
    for (const m of batch.acks) settle(m, "ack");
    this.recorded += batch.facts.length;
    for (const w of this.waiters) {
      if (this.facts.lastSeq >= w.seq) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }

  private base(m: StreamMessage, type: FactType, title: string, status: string, tags: string[]): Fact {
    return {
      id: factId(m.seq),
      type,
      title,
      status,
      tags,
      fields: { seq: m.seq, subject: m.subject },
      provenance: { "created-by": RECORDER, timestamp: new Date().toISOString() },
    };
  }

  private rejected(
    m: StreamMessage,
    code: ErrorCode,
    reason: string,
    env?: { sender?: string; channel?: string; id?: string },
  ): Fact {
    const f = this.base(m, "rejected", `rejected on ${m.subject}: ${code}`, "rejected", ["rejected", code]);
    Object.assign(f.fields, {
      code,
      reason,
      "raw-bytes": m.data.byteLength,
      "raw-sha256": createHash("sha256").update(m.data).digest("hex"),
      "raw-head": Buffer.from(m.data.subarray(0, RAW_HEAD_BYTES)).toString("base64"),
    });
    if (env?.sender) f.fields.sender = env.sender;
    if (env?.channel) f.fields.channel = env.channel;
    if (env?.id) f.fields["envelope-id"] = env.id;
    return f;
  }

  private async speechFact(m: StreamMessage): Promise<Fact> {
    const verdict = await this.verifier!.verify(m.data, m.subject);
    if (!verdict.ok) return this.rejected(m, verdict.code, verdict.reason, verdict.env);
    const env = verdict.env;
    const f = this.base(m, "speech-act", `${env.sender} → ${env.channel}: ${env.act}`, "accepted", [
      env.channel,
      env.act,
    ]);
    Object.assign(f.fields, {
      "envelope-id": env.id,
      channel: env.channel,
      sender: env.sender,
      act: env.act,
      body: JSON.stringify(env.body),
      hop: env.hop,
      ts: env.ts,
      ...(env.re !== undefined ? { re: env.re } : {}),
      ...(env.conv !== undefined ? { conv: env.conv } : {}),
      sig: env.sig,
    });
    // A hosted agent's act names the component that produced it: the one its host last started it with
    // (or, during a canary rollout, the version its conversation was routed to).
    const component = this.facts.componentOf(env.sender, env.conv ?? env.id);
    if (component !== undefined && this.hosted.has(env.sender)) f.fields.component = component;
    const kill = this.killOf(env.sender, m.time);
    // Counted for every act (the budget is per minute of stream time), whatever else is decided.
    const overBudget = this.standing?.of(env, m.time.getTime()) === "over_budget";
    if (overBudget) f.tags.push("over-budget");
    if (kill) {
      f.status = "killed";
      f.tags.push("killed");
      f.fields["killed-by"] = kill;
    } else await this.conversation(env, m.seq, f, overBudget);
    const answered = env.re !== undefined ? this.facts.byEnvelope.get(env.re) : undefined;
    const links = [
      ...(answered ? [{ type: "traces-to", target: answered }] : []),
      ...cited(env.body).flatMap((id) => {
        const target = this.facts.byEnvelope.get(id);
        return target ? [{ type: "cites", target }] : [];
      }),
    ];
    if (links.length > 0) f.links = links;
    this.facts.noteKey(env.sender, this.registry!.raw(env.sender)!);
    return f;
  }

  /**
   * An act of a cancelled conversation is recorded as said, with status "cancelled" (every reader
   * drops it). A cancel from the conversation's initiator or an operator ends it: recorded in
   * agora-convs, which every reader follows. Anyone else's cancel changes nothing (tag `cancel-refused`),
   * and neither does one beyond its sender's send budget (every reader dropped it).
   */
  private async conversation(env: Envelope, seq: number, f: Fact, overBudget: boolean): Promise<void> {
    const conv = env.conv ?? env.id;
    const cancel = this.cancelled.get(conv);
    // Only what the stream stored after the cancel (a re-recording knows of later cancels).
    if (cancel !== undefined && cancel.seq < seq) {
      f.status = "cancelled";
      f.tags.push("cancelled");
      f.fields["cancelled-by"] = cancel.id;
      return;
    }
    if (cancel?.id === env.id) {
      f.tags.push("conversation-cancelled"); // recorded again (a retry, a re-recording): it did end it
      return;
    }
    if (env.act !== "cancel" || env.conv === undefined || cancel !== undefined) return;
    const initiator = this.facts.initiators.get(env.conv) ?? "";
    if (overBudget || !mayCancel({ initiator }, env.sender, this.options.config.controllers)) {
      f.tags.push("cancel-refused");
      return;
    }
    const record: CancelRecord = { conv: env.conv, id: env.id, by: env.sender, initiator, seq, ts: env.ts };
    await this.infra!.convs.put(env.conv, JSON.stringify(record)); // before the fact is written
    this.cancelled.set(env.conv, { id: env.id, seq });
    if (this.cancelled.size > REMEMBERED_CANCELS) this.cancelled.delete(this.cancelled.keys().next().value!);
    f.tags.push("conversation-cancelled");
  }

  /** The kill control in force for `sender` when the stream stored its message, if one was (readers dropped it). */
  private killOf(sender: string, storedAt: Date): string | undefined {
    if (!senderKillable(this.options.config, sender)) return undefined;
    const c = this.controls?.state.decidingAt(sender, storedAt.getTime());
    return c?.verb === "kill" ? c.id : undefined;
  }

  private eventFact(m: StreamMessage): Fact {
    const verdict = this.verifier!.checkEvent(m.data, m.subject);
    if (!verdict.ok) return this.rejected(m, verdict.code, verdict.reason);
    const event = verdict.event;
    const { type, status } = EVENT_FACTS.get(event.type)!; // checkEvent admits recorded types only
    const detail = "channel" in event && event.channel ? ` on ${event.channel}` : "";
    const f = this.base(m, type, `${event.agent}: ${type}${detail}`, status, [type, event.agent]);
    Object.assign(f.fields, {
      host: event.host,
      agent: event.agent,
      event: JSON.stringify(event),
      ...("id" in event && event.id ? { "envelope-id": event.id } : {}),
      ...("channel" in event && event.channel ? { channel: event.channel } : {}),
    });
    this.facts.noteKey(event.host, this.registry!.raw(event.host)!);
    return f;
  }

  /** Resolves when recording ends: undefined after close(), else why it stopped (it resumes there when restarted). */
  async closed(): Promise<void | Error> {
    await this.loop;
    return this.failure;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.loop;
    if (this.writing) {
      clearTimeout(this.writing as NodeJS.Timeout);
      clearImmediate(this.writing as NodeJS.Immediate);
      this.flush(true); // once more, no retry after close
    }
    this.controls?.close();
    this.registry?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
