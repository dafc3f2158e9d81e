// Inbox: an external agent's durable, verified inbox — one durable consumer per
// (agent, readable channel), merged into one async iterator. The host's controls
// hold here too: signature, sender and grant checked first; self-echo dropped;
// an (agent, id) handed over once. A message is acknowledged after the turn that
// handled it completes (the loop asks for the next one, or leaves), with a
// processed marker written first: a process that dies mid-turn gets the message
// again; one that died after the turn never sees it again. Leaving the loop
// (break, return, an exception) does not complete the turn — the message comes
// back — unless `complete()` was called first.
import { AckPolicy, DeliverPolicy, type Consumer, type JsMsg } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { AgoraConfig } from "../config/config.js";
import type { Envelope } from "../protocol/envelope.js";
import type { ErrorCode } from "../protocol/errors.js";
import { channelSubject, inboxConsumerName, markerKey, REFUSED_MARKER, STREAM } from "../protocol/subjects.js";
import { ensureDurableConsumer } from "../transport/consumer.js";
import type { Infrastructure } from "../transport/infrastructure.js";
import { pullLoop } from "../transport/pull-loop.js";
import type { Verifier } from "../trust/verifier.js";
import { SENDER_REFUSAL_CODES } from "../trust/budget.js";
import { admit, standing, type StandingJudges } from "../trust/admission.js";

/** A verified message, handed to the agent once. */
export interface InboxMessage {
  readonly env: Envelope;
  readonly channel: string;
  /** Its stream sequence. */
  readonly seq: number;
  /** True when JetStream delivered it before (the previous turn did not complete). */
  readonly redelivered: boolean;
}

export interface InboxCounters {
  delivered: number;
  /** Failed verification (unknown sender, bad signature, wrong channel, no grant, malformed). */
  rejected: number;
  /** The agent's own messages. */
  echoDropped: number;
  /** Already handled (by an earlier turn, before a restart). */
  duplicates: number;
  /** From a sender the operator killed, beyond its sender's send budget, or of a cancelled conversation (reported as rejections). */
  refused: number;
}

/** A message the inbox refused, as a host reports a rejection. */
export interface InboxRejection {
  type: "rejected";
  code: ErrorCode;
  reason: string;
  channel: string;
  seq: number;
  sender?: string;
  id?: string;
}

export interface InboxOptions {
  /** Messages fetched per pull and channel. @default 16 */
  batch?: number;
  /** Called for each message refused: by verification, as too old, or for its sender (killed, over budget). */
  onRejected?(rejection: InboxRejection): void;
  /** @internal Called as each message is handed over (the SDK numbers a turn's replies from there). */
  onHandOver?(msg: InboxMessage): void;
}

interface Pending {
  msg: InboxMessage;
  js: JsMsg;
  /** Ends the channel's wait once the turn is over. */
  release(): void;
}

export class Inbox implements AsyncIterableIterator<InboxMessage> {
  readonly counters: InboxCounters = { delivered: 0, rejected: 0, echoDropped: 0, duplicates: 0, refused: 0 };
  private readonly queue: Pending[] = [];
  private wake?: () => void;
  private inHand?: Pending;
  private closing = false;
  private loops: Promise<void>[] = [];

  private constructor(
    private readonly agent: string,
    private readonly infra: Infrastructure,
    private readonly verifier: Verifier,
    /** The sender's standing, as trust/admission.ts asks it. */
    private readonly judges: StandingJudges,
    private readonly options: InboxOptions,
    /** Older messages are refused: their markers may have expired. */
    private readonly maxAgeMs: number,
  ) {}

  /** Open (creating when missing) the durable consumers of `channels` and start pulling. */
  static async open(
    agent: string,
    config: AgoraConfig,
    infra: Infrastructure,
    verifier: Verifier,
    /** Killed senders, send budgets and cancelled conversations: what drops a message for good. */
    judges: StandingJudges,
    channels: readonly string[],
    options: InboxOptions = {},
  ): Promise<Inbox> {
    const inbox = new Inbox(agent, infra, verifier, judges, options, config.limits.maxMessageAgeMs);
    const consumers: [string, Consumer][] = [];
    for (const channel of channels) {
      consumers.push([
        channel,
        await ensureDurableConsumer(infra, STREAM, {
          durable_name: inboxConsumerName(agent, channel),
          filter_subject: channelSubject(channel),
          // From the moment the inbox first exists: what arrives while the agent is away waits for it.
          deliver_policy: DeliverPolicy.New,
          ack_policy: AckPolicy.Explicit,
          ack_wait: nanos(config.limits.ackWaitMs),
          // Never given up on: a message the agent keeps failing on is redelivered, not silently dropped.
          max_deliver: -1,
        }),
      ]);
    }
    inbox.loops = consumers.map(([channel, consumer]) =>
      pullLoop(consumer, (m) => inbox.take(channel, m), {
        batch: options.batch ?? 16,
        closing: () => inbox.closing,
      }),
    );
    return inbox;
  }

  /**
   * Report a refused message; a genuine one (verified, refused for its age or
   * its sender) also leaves a rejected:<code> marker for its trace — never a
   * forgery, which could pre-claim a real message's id.
   */
  private async refuse(
    channel: string,
    seq: number,
    code: ErrorCode,
    reason: string,
    env: Envelope | undefined,
    genuine: boolean,
  ): Promise<void> {
    this.options.onRejected?.({ type: "rejected", code, reason, channel, seq, sender: env?.sender, id: env?.id });
    if (genuine && env)
      await this.infra.processed.create(markerKey(this.agent, env.id), `${REFUSED_MARKER}${code}`).catch(() => {});
  }

  /**
   * Verify, drop, or queue one message and wait until its turn is over. The stages a host's runtime
   * takes, where they apply: verify → standing → admit (trust/admission.ts, shared), then the claim
   * (this agent's processed marker) and the turn.
   */
  private async take(channel: string, m: JsMsg): Promise<void> {
    const verdict = await this.verifier.verify(m.data, m.subject);
    const stands = standing(verdict, { agent: this.agent, seq: m.seq, atMs: m.time.getTime() }, this.judges);
    const admission = admit(verdict, {
      agent: this.agent,
      now: Date.now(),
      maxMessageAgeMs: this.maxAgeMs,
      leaving: this.closing,
      killed: false,
      held: false,
      sender: stands.sender,
      cancelled: stands.cancel !== undefined,
    });
    if (admission.decision === "reject") {
      // Past the age limit, "handled already" could no longer be proven (markers expire): refused like a host does.
      this.counters.rejected++;
      await this.refuse(channel, m.seq, admission.code, admission.reason, admission.env, verdict.ok);
      m.term();
      return;
    }
    if (admission.decision === "drop") {
      const env = admission.env;
      switch (admission.control) {
        case "echo":
          this.counters.echoDropped++;
          m.ack();
          return;
        case "sender_killed":
        case "over_budget": {
          // Refused for good, as the hosts refuse it.
          this.counters.refused++;
          const reason =
            admission.control === "sender_killed" ? `${env.sender} is killed` : `${env.sender} is over its send budget`;
          await this.refuse(channel, m.seq, SENDER_REFUSAL_CODES[admission.control], reason, env, true);
          m.ack();
          return;
        }
        case "cancelled": {
          this.counters.refused++;
          const c = stands.cancel!;
          const reason = `conversation ${c.conv} was cancelled by ${c.by} (${c.id})`;
          await this.refuse(channel, m.seq, "AGORA_ERR_CANCELLED", reason, env, true);
          m.ack();
          return;
        }
        default:
          m.nak(); // closing: the next inbox takes it
          return;
      }
    }
    const env = admission.env;
    let marker;
    try {
      marker = await this.infra.processed.get(markerKey(this.agent, env.id));
    } catch {
      // Whether it was handled cannot be told now: it comes back later rather than twice.
      m.nak(1000);
      return;
    }
    if (this.closing) return void m.nak();
    if (marker) {
      this.counters.duplicates++;
      m.ack();
      return;
    }
    await new Promise<void>((release) => {
      if (this.closing) {
        m.nak();
        return release();
      }
      this.queue.push({
        msg: { env, channel, seq: m.seq, redelivered: m.redelivered },
        js: m,
        release,
      });
      this.wake?.();
    });
  }

  /**
   * The turn of the message in hand is over: mark it processed, then
   * acknowledge it. Asking for the next message does this; call it yourself
   * before leaving the loop after the last message you handle.
   */
  async complete(): Promise<void> {
    const p = this.inHand;
    if (!p) return;
    this.inHand = undefined;
    try {
      await this.infra.processed.put(markerKey(this.agent, p.msg.env.id), String(p.msg.seq));
      await p.js.ackAck();
      this.counters.delivered++;
    } finally {
      p.release();
    }
  }

  /** True while a message's turn is under way. */
  get busy(): boolean {
    return this.inHand !== undefined;
  }

  async next(): Promise<IteratorResult<InboxMessage>> {
    await this.complete();
    while (!this.closing) {
      const p = this.queue.shift();
      if (p) {
        this.inHand = p;
        this.options.onHandOver?.(p.msg);
        return { value: p.msg, done: false };
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    return { value: undefined, done: true };
  }

  /**
   * Leaving the loop — by break, return or an exception, which JavaScript does
   * not tell apart — closes the inbox; a message in hand whose turn was not
   * completed (complete()) comes back, to this agent's next inbox.
   */
  async return(): Promise<IteratorResult<InboxMessage>> {
    await this.close();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<InboxMessage> {
    return this;
  }

  /**
   * Stop pulling. Messages fetched but not handed over are left unacknowledged
   * (redelivered after ack_wait, to the next run); a message in hand whose turn
   * did not complete likewise.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.wake?.();
    for (const p of this.queue.splice(0)) {
      p.js.nak();
      p.release();
    }
    if (this.inHand) {
      this.inHand.js.nak();
      this.inHand.release();
      this.inHand = undefined;
    }
    await Promise.all(this.loops);
  }
}
