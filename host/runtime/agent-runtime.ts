// AgentRuntime: one hosted agent on this host — its messages in order, in batches, each through
// the stages verify → standing → admit → claim → call → commit → report, with the kill switch,
// supervision (restart, hold, dead letters) and the lease fence around it (handleBatch reads so).
// Each stage is a unit of its own: verify.ts; standing and admit, pure and shared with the SDK's
// inbox, in trust/admission.ts (refusal.ts acts on a refusal); the claim and the crash-safe commit,
// commit.ts; call.ts (what the worker gets); the reports below. stamp.ts (what a call sends
// becomes) and supervision.ts are pure too.
import type { JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { KeyObject } from "node:crypto";
import type { AgoraConfig, HostedAgentConfig } from "../../config/config.js";
import type { Envelope, UnsignedEnvelope } from "../../protocol/envelope.js";
import { AgoraError, type ErrorCode } from "../../protocol/errors.js";
import type { HostEvent } from "../../protocol/events.js";
import type { CommitRecord, ReportedStatus, TimerCommit } from "../../protocol/records.js";
import { dlqSubject, PROCESSED_BUCKET, timerSubject } from "../../protocol/subjects.js";
import { timerId } from "../../protocol/ids.js";
import { publishWithRetry, type StreamPublish } from "../../transport/publisher.js";
import { timeSlice } from "../../transport/time-slice.js";
import type { Verifier } from "../../trust/verifier.js";
import { admit, standing, type StandingJudges } from "../../trust/admission.js";
import type { HostMetrics } from "../metrics.js";
import type { WorkerPool } from "../workers/worker-pool.js";
import { sendsOnly, type Call, type CallResult } from "../workers/worker-protocol.js";
import { stamp } from "./stamp.js";
import { verify, type Recipient } from "./verify.js";
import { refuse, type RefusalContext } from "./refusal.js";
import { callOf } from "./call.js";
import { Commits, type AppliedTimer } from "./commit.js";
import { Supervision } from "./supervision.js";
import { CANARY, tallies, type Canary } from "./canary.js";
import type { RolloutPolicy } from "../../protocol/rollout.js";

/** What the runtime needs from its host. */
export interface RuntimeContext extends StandingJudges {
  publisher: StreamPublish;
  state: KV;
  processed: KV;
  timers: KV;
  pool: WorkerPool;
  verifier: Verifier;
  metrics: HostMetrics;
  limits: AgoraConfig["limits"];
  /** Report a decision (counted, streamed, and — for enforcement — recorded). */
  report(event: HostEvent): Promise<void>;
  /** Publish an agent's status for the gateway. */
  setStatus(agent: string, status: ReportedStatus, reason?: string): Promise<void>;
  /** Whether this host still holds the agent's placement lease (checked before every call and commit). */
  holdsLease(agent: string): boolean;
  /** This agent's canary rollout here, when it has one: which version each conversation goes to. */
  canary?: Canary;
  /** When a canary is rolled back on its own (components.rollout). */
  rollout: RolloutPolicy;
  /** The canary failed by the rollout rule and its fact is recorded: make the rollback last (the deploy record). */
  canaryRolledBack(agent: string, canary: Canary, reason: string): void;
  /** A commit of `agent` wrote its timers (set or cancelled): schedule them, report them. */
  timersApplied(agent: string, commit: CommitRecord, applied: AppliedTimer[]): void;
  log(line: string): void;
}

/** Commits of one agent in flight at most; the next call waits for one to finish beyond this. */
const MAX_COMMITTING = 256;
/** The most calls handed to the worker in one batch. */
const MAX_BATCH = 32;
/** Messages taken from the pull loops and not handled yet, at most: the loops wait beyond this. */
const MAX_QUEUED = 64;

/** A message admitted for a call: its claim running, its call ready for the worker. */
interface Admitted {
  m: JsMsg;
  env: Envelope;
  claim: Promise<{ seen: boolean } | { error: unknown }>;
  call: Call;
  /** performance.now() when it was admitted. */
  started: number;
}

export class AgentRuntime {
  readonly name: string;
  readonly config: HostedAgentConfig;
  private readonly ctx: RuntimeContext;
  private readonly commits: Commits;
  private readonly supervision: Supervision;
  /** Messages taken from the pull loops and not handled yet, in arrival order. */
  private readonly queue: JsMsg[] = [];
  /** True while drain() runs (set and cleared in the same turn as the queue is found empty). */
  private draining = false;
  private drained: Promise<void> = Promise.resolve();
  /** Pull loops waiting for room in the queue, and how they are woken. */
  private room?: Promise<void>;
  private roomy?: () => void;
  /** How many queued messages the next batch takes (see drain). */
  private batchSize = 1;
  /** Sequences of messages claimed by a batch that did not run them (see notRun): claimed again when handled. */
  private readonly claimedAhead = new Set<number>();
  /** Calls handed to the component whose effects were committed. */
  handled = 0;
  private killedFlag = false;
  private stoppingFlag = false;
  /** The placement lease is gone: nothing more may be committed from here. */
  private fencedFlag = false;
  private wake?: () => void;
  private revival?: Promise<void>;
  /** A commit written to the WAL but not (fully) applied yet: applied before anything else. */
  private pending?: CommitRecord;
  /** Commits of calls that only sent, still being applied while later calls run. */
  private readonly committing = new Set<Promise<void>>();
  /** Resolves when the latest commit has issued its publishes: the next one issues after it. */
  private issued: Promise<void> = Promise.resolve();
  /** The canary handled the last call: judge the rollout when its message is done. */
  private judgeCanary = false;
  /** This agent, as the verify stage sees it: its name, timer subject and own echo. */
  private readonly recipient: Recipient;
  /** What the admit stage needs to act on a refusal. */
  private readonly refusals: RefusalContext;

  constructor(
    config: HostedAgentConfig,
    key: KeyObject,
    /** The agent's seed: keys the ids of what it emits, so no one else can compute them. */
    private readonly idSecret: string,
    ctx: RuntimeContext,
  ) {
    this.name = config.name;
    this.config = config;
    this.ctx = ctx;
    this.commits = new Commits(config.name, key, ctx, () => this.fence());
    this.supervision = new Supervision(ctx.limits);
    this.recipient = {
      name: config.name,
      timerSubject: timerSubject(config.name),
      echoOf: (data) => this.commits.echoOf(data),
    };
    this.refusals = {
      agent: config.name,
      commits: this.commits,
      report: (e) => ctx.report(e),
      dropped: (control) => ctx.metrics.drops.inc({ control }),
    };
  }

  /**
   * Take a message from one of the agent's pull loops (whichever channel): it is handled in arrival
   * order, in batches (see drain). Resolves once the queue has room for more.
   */
  enqueue(m: JsMsg): Promise<void> {
    this.queue.push(m);
    if (!this.draining) {
      this.draining = true;
      this.drained = this.drain();
    }
    if (this.queue.length < MAX_QUEUED) return Promise.resolve();
    this.room ??= new Promise((resolve) => (this.roomy = resolve));
    return this.room;
  }

  get killed(): boolean {
    return this.killedFlag;
  }

  get failed(): boolean {
    return this.supervision.failed;
  }

  /** True while nothing should be pulled for this agent: killed, failed, or backing off after a trap. */
  paused(): boolean {
    return this.killedFlag || this.supervision.held(Date.now());
  }

  /** Resolves when pulling may resume (or on release()). */
  resumed(): Promise<void> {
    this.revival ??= new Promise((r) => (this.wake = r));
    if (!this.killedFlag && !this.supervision.failed) {
      const t = setTimeout(() => this.unpause(), Math.max(0, this.supervision.holdUntil - Date.now()));
      t.unref?.();
    }
    return this.revival;
  }

  private unpause(): void {
    this.wake?.();
    this.revival = undefined;
    this.wake = undefined;
  }

  /** Kill (no delivery starts after this returns) or revive the agent. Reviving also clears a failed state. */
  setKilled(killed: boolean): void {
    if (!killed && this.supervision.failed) {
      this.supervision.revive();
      void this.ctx.pool.respawn(this.name).catch(() => {});
      void this.ctx.setStatus(this.name, "running");
    }
    if (killed === this.killedFlag) {
      if (!killed) this.unpause();
      return;
    }
    this.killedFlag = killed;
    // The worker reads it too: a call of a batch handed over before the kill does not start after it.
    this.ctx.pool.halt(this.name, killed);
    if (!killed) this.unpause();
  }

  /** Wake a loop waiting for revival (used on close). */
  release(): void {
    this.unpause();
  }

  /** True once the agent is leaving this host: nothing new is delivered. */
  get stopping(): boolean {
    return this.stoppingFlag;
  }

  /**
   * The agent leaves this host (handed over, or its lease `lost`). No new call
   * starts; with `lost` the call in hand commits nothing more either — a commit
   * already in the WAL is finished by the agent's next host.
   */
  stop(lost: boolean): void {
    this.stoppingFlag = true;
    if (lost) this.fencedFlag = true;
    this.ctx.pool.halt(this.name, true);
    this.unpause();
  }

  private fence(): void {
    if (this.fencedFlag || !this.ctx.holdsLease(this.name))
      throw new AgoraError(
        "AGORA_ERR_LEASE_LOST",
        `agent ${this.name}: placement lease lost; its next host finishes this message`,
      );
  }

  /** Wait for the messages taken, and every commit in flight, to finish. */
  async idle(): Promise<void> {
    while (this.draining) await this.drained;
    await this.committed();
  }

  /**
   * Finish a commit a crash interrupted (call before consuming). The instance is
   * then reloaded, so it sees the state the commit wrote.
   */
  async recover(): Promise<void> {
    const commit = await this.commits.interrupted((key, reason) => {
      this.ctx.log(`agent ${this.name}: AGORA_ERR_BAD_RECORD: ${reason}`);
      void this.ctx.report({
        type: "record_refused",
        agent: this.name,
        bucket: PROCESSED_BUCKET,
        key,
        code: "AGORA_ERR_BAD_RECORD",
        reason,
      });
    });
    if (!commit) return;
    this.ctx.log(`agent ${this.name}: finishing the commit of ${commit.id} interrupted by a crash`);
    await this.apply(commit);
    await this.ctx.pool.respawn(this.name);
  }

  /**
   * Handle what is queued, batch by batch (handleBatch). A batch doubles, up to MAX_BATCH, while its
   * calls only send; it falls back to one call once a call wrote state or timers (the next call may
   * only see them committed) or did not run.
   */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchSize);
      if (this.queue.length < MAX_QUEUED) this.wakePullLoops();
      // Never leaves the loop on an error: the queue is drained, and the pull loops waiting for room go on.
      await this.handleBatch(batch).catch((err: unknown) => this.ctx.log(`agent ${this.name}: batch: ${String(err)}`));
    }
    this.draining = false;
  }

  private wakePullLoops(): void {
    const wake = this.roomy;
    this.room = this.roomy = undefined;
    wake?.();
  }

  /**
   * One batch: each message verified and admitted in order (refused and dropped ones end there),
   * the admitted ones claimed and called in one message to the worker, then each result committed
   * and reported in order. A call the batch did not run is handled again, first.
   */
  private async handleBatch(batch: JsMsg[]): Promise<void> {
    try {
      await this.settle();
    } catch (err) {
      for (const m of batch) await this.handBack(m, err);
      return;
    }
    // A batch is mostly work that needs no I/O (verify, sign): it gives the event loop a turn every
    // SLICE_MS, so the kill switch's control and the console are never queued behind a whole batch.
    const turn = timeSlice();
    // verify → standing → admit → claim: message by message, in order.
    const admitted: Admitted[] = [];
    for (const m of batch) {
      try {
        const a = await this.admitOne(m);
        if (a) admitted.push(a);
      } catch (err) {
        await this.handBack(m, err);
      }
      await turn();
    }
    if (admitted.length === 0) return;
    // call: the admitted ones, in one message to the worker.
    const canary = this.ctx.canary;
    const results = await this.ctx.pool.calls(
      this.name,
      admitted.map((a) => a.call),
    );
    // commit → report: result by result, in order.
    const again: JsMsg[] = [];
    let grow = true;
    let reload = false;
    for (const [i, a] of admitted.entries()) {
      const result = results[i]!;
      // Not started — or run by the canary, which an earlier result of this batch rolled back — and,
      // once one goes back, every later one (per-channel order): handled again, first.
      if (again.length > 0 || result.notRun || (a.call.version === CANARY && canary?.rolledBack)) {
        again.push(a.m);
        grow = false;
        // Its state changed the instance, and is not committed: the instance is reloaded from KV.
        if (result.ok && !sendsOnly(result)) reload = true;
        // Its claim, if it won (never another copy's marker), is set back should it not be handled next time.
        const c = await a.claim;
        if (!("error" in c) && !c.seen) this.claimedAhead.add(a.m.seq);
        continue;
      }
      if (!sendsOnly(result)) grow = false;
      try {
        await this.commitAndReport(a, result);
        if (this.judgeCanary) {
          // Judged once the message is done (its commit queued, its acts among those judge() waits for).
          this.judgeCanary = false;
          await this.judge(this.ctx.canary!).catch((err: unknown) =>
            this.ctx.log(`agent ${this.name}: canary rollback: ${String(err)}`),
          );
        }
      } catch (err) {
        await this.handBack(a.m, err);
      }
      await turn();
    }
    if (reload) await this.ctx.pool.respawn(this.name).catch(() => {});
    this.queue.unshift(...again);
    this.batchSize = grow ? Math.min(MAX_BATCH, this.batchSize * 2) : 1;
  }

  /**
   * NATS or KV unavailable mid-commit: hand the message back. A commit already in the WAL is applied
   * on the next attempt; otherwise the instance is reloaded from KV so the call's uncommitted state is forgotten.
   */
  private async handBack(m: JsMsg, err: unknown): Promise<void> {
    this.ctx.log(`agent ${this.name}: seq ${m.seq}: ${String(err)}; will retry`);
    if (!this.pending && !this.stoppingFlag) await this.ctx.pool.respawn(this.name).catch(() => {});
    try {
      m.nak(500);
    } catch {
      // the connection is closed: the message comes back after ack_wait
    }
  }

  /** Apply the pending commit (WAL written, apply interrupted) before anything else. */
  private async settle(): Promise<void> {
    if (!this.pending) return;
    await this.apply(this.pending);
    this.pending = undefined;
    this.handled++;
  }

  private apply(c: CommitRecord): Promise<void> {
    return this.commits.apply(
      c,
      (env) =>
        this.ctx.report({
          type: "emitted",
          agent: this.name,
          channel: env.channel,
          id: env.id,
          act: env.act,
          hop: env.hop,
          re: env.re,
        }),
      (applied) => this.ctx.timersApplied(this.name, c, applied),
    );
  }

  /** The timers a call set or cancelled, as commit records (ids derived, due from the call's host time). */
  private timerCommits(env: Envelope, result: CallResult, now: number): TimerCommit[] {
    return (result.timers ?? []).map((t) =>
      t.op === "cancel"
        ? t
        : {
            op: "set",
            timer: {
              agent: this.name,
              tag: t.tag,
              id: timerId(this.idSecret, this.name, env.id, t.tag),
              due: now + t.ms,
              set: env.id,
              channel: env.channel,
              conv: env.conv ?? env.id,
              hop: env.hop,
            },
          },
    );
  }

  /**
   * The stages before the call, for one message: verify → standing → admit, then claim. One not
   * delivered is finished here (refusal.ts); one admitted has its claim running and its call ready.
   */
  private async admitOne(m: JsMsg): Promise<Admitted | undefined> {
    const agent = this.name;
    const { verdict, own, timer } = await verify(m, this.recipient, this.ctx.verifier);
    const stands = standing(verdict, { agent, seq: m.seq, atMs: m.time.getTime(), exempt: own || timer }, this.ctx);
    // The kill switch is read here, right before the call (and by the worker before each call of a batch).
    const now = Date.now();
    const admission = admit(verdict, {
      agent,
      now,
      maxMessageAgeMs: this.ctx.limits.maxMessageAgeMs,
      leaving: this.stoppingFlag || !this.ctx.holdsLease(agent),
      killed: this.killedFlag,
      held: this.supervision.held(now),
      sender: stands.sender,
      cancelled: stands.cancel !== undefined,
    });
    // Claimed by an earlier batch that did not run it: its marker is set back if it is not handled now.
    const claimed = this.claimedAhead.delete(m.seq);
    if (admission.decision !== "deliver") {
      await refuse(m, admission, { genuine: verdict.ok, cancel: stands.cancel, claimed }, this.refusals);
      return;
    }
    const env = admission.env;
    // The processed-marker claim runs alongside the call: a duplicate is rare, and
    // its speculative call has no effect (nothing is committed, a changed instance is reloaded).
    const claim = this.commits.claim(env.id, m.seq).then(
      (seen) => ({ seen }),
      (error: unknown) => ({ error }),
    );
    return { m, env, claim, call: callOf(env, now, timer, this.ctx.canary), started: performance.now() };
  }

  /** Commit and report one call's result (its message was admitted and claimed). */
  private async commitAndReport(a: Admitted, result: CallResult): Promise<void> {
    const { m, env, claim, started } = a;
    const { now } = a.call;
    const version = a.call.version ?? 0;
    const seq = m.seq;
    const agent = this.name;
    const base = { agent, seq, channel: env.channel, id: env.id };
    const canary = this.ctx.canary;
    if (canary) {
      canary.record(version, result, performance.now() - started);
      this.judgeCanary ||= version === CANARY;
    }
    if (sendsOnly(result)) {
      // Sends only: nothing the next call sees changed, so the next call starts while this one commits.
      // Its publishes still go out in input order (after the previous commit's), and its ack after them.
      const emission = this.emit(env, result);
      const commit = this.commits.prepare(env.id, seq, emission.envelopes, []);
      const finishing = this.finish(m, env, claim, result, commit, emission.hopExhausted, started).finally(() =>
        this.committing.delete(finishing),
      );
      this.committing.add(finishing);
      if (this.committing.size >= MAX_COMMITTING) await Promise.race(this.committing);
      return;
    }
    const c = await claim;
    if ("error" in c) throw c.error; // after the call returned: handBack() reloads the instance
    if (c.seen) {
      if (result.trapped || (result.ok && result.state.length > 0)) await this.ctx.pool.respawn(agent);
      await this.ctx.report({ type: "duplicate", ...base });
      m.ack();
      return;
    }
    await this.reportDelivery(env, seq, result, started);
    if (!result.ok) {
      await this.failure(m, env, result, version);
      return;
    }
    // It wrote state: its commit comes after every commit still in flight (so a re-run of one of them
    // never sees this state), and the next call waits for it.
    await this.committed();
    const emission = this.emit(env, result);
    if (emission.hopExhausted)
      await this.ctx.report({ type: "hop_exhausted", ...base, dropped: emission.hopExhausted });
    const commit = this.commits.prepare(
      env.id,
      seq,
      emission.envelopes,
      result.state,
      this.timerCommits(env, result, now),
    );
    // What this agent sends is never verified here (its echo is known byte for byte): its hops are noted instead,
    // so an answer to it is held below them too.
    for (const e of commit.envelopes) this.ctx.verifier.remember(e);
    await this.commits.writeAhead(commit);
    this.pending = commit;
    await this.settle();
    this.supervision.succeeded(env.id);
    m.ack();
    this.ctx.metrics.handleSeconds.observe({ agent }, (performance.now() - started) / 1000);
  }

  /** What a call sent, stamped by the host (hop − 1), or how many sends the spent hop budget dropped. */
  private emit(env: Envelope, result: CallResult): { envelopes: UnsignedEnvelope[]; hopExhausted?: number } {
    const emission = stamp(this.name, env, result.sends, new Date().toISOString(), this.idSecret, (id) =>
      this.ctx.verifier.hopOf(id),
    );
    return "envelopes" in emission ? emission : { envelopes: [], hopExhausted: emission.hopExhausted };
  }

  /** The delivery happened (the claim says it is not a duplicate): report it and what the call tried unauthorised. */
  private async reportDelivery(env: Envelope, seq: number, result: CallResult, started: number): Promise<void> {
    const base = { agent: this.name, seq, channel: env.channel, id: env.id };
    await this.ctx.report({
      type: "delivered",
      ...base,
      sender: env.sender,
      act: env.act,
      hop: env.hop,
      at: performance.timeOrigin + started,
    });
    for (const target of result.blocked)
      await this.ctx.report({ type: "blocked", ...base, target, code: "AGORA_ERR_NOT_GRANTED" });
  }

  /**
   * Commit a call that only sent: after its claim, and after the previous commit
   * issued its publishes (so they reach the stream in input order). On NATS
   * trouble the message is handed back; the instance needs no reload (the call changed nothing).
   */
  private async finish(
    m: JsMsg,
    env: Envelope,
    claim: Promise<{ seen: boolean } | { error: unknown }>,
    result: CallResult,
    commit: CommitRecord,
    hopExhausted: number | undefined,
    started: number,
  ): Promise<void> {
    const previous = this.issued;
    let issued!: () => void;
    this.issued = new Promise((r) => (issued = r));
    const base = { agent: this.name, seq: m.seq, channel: env.channel, id: env.id };
    try {
      const [c] = await Promise.all([claim, previous]);
      if ("error" in c) throw c.error;
      if (c.seen) {
        issued();
        await this.ctx.report({ type: "duplicate", ...base });
        m.ack();
        return;
      }
      await this.reportDelivery(env, m.seq, result, started);
      if (hopExhausted) await this.ctx.report({ type: "hop_exhausted", ...base, dropped: hopExhausted });
      for (const e of commit.envelopes) this.ctx.verifier.remember(e);
      const applying = this.apply(commit); // publishes are issued before this returns
      issued();
      await applying;
      this.supervision.succeeded(env.id);
      this.handled++;
      m.ack();
      this.ctx.metrics.handleSeconds.observe({ agent: this.name }, (performance.now() - started) / 1000);
    } catch (err) {
      issued();
      this.ctx.log(`agent ${this.name}: seq ${m.seq}: ${String(err)}; will retry`);
      m.nak(500);
    }
  }

  /** Resolves when every commit in flight has finished. */
  private async committed(): Promise<void> {
    while (this.committing.size > 0) await Promise.allSettled([...this.committing]);
  }

  /**
   * A failed call: discard its effects, record it, and — for a trap — restart the
   * instance from KV with exponential backoff, marking the agent failed after
   * too many restarts in the window. The message is retried up to maxDeliver
   * attempts, then dead-lettered.
   */
  private async failure(m: JsMsg, env: Envelope, result: CallResult, version: number): Promise<void> {
    const agent = this.name;
    if (result.retry) {
      await this.retry(m, env, 100); // collateral of another agent's restart: not this message's fault
      return;
    }
    const { code, message } = result.error ?? { code: "AGORA_ERR_COMPONENT_TRAP" as ErrorCode, message: "" };
    const text = `${code}: ${message}`;
    await this.ctx.report({
      type: "failed",
      agent,
      seq: m.seq,
      channel: env.channel,
      id: env.id,
      code,
      error: text.slice(0, 500),
    });
    // A canary's trap is the rollout's to judge: its instance is already replaced, the current one never trapped.
    // An agent with no instance at all is restarted whichever version the call was for.
    if (result.trapped && (version !== CANARY || result.unplaced)) await this.restart(code);
    const next = this.supervision.attemptFailed(env.id);
    const canary = this.ctx.canary;
    if (next.deadLetter && version === CANARY && canary && !canary.rolledBack) {
      // Only the canary failed it, on every attempt: the canary goes, and the message is retried on the current version.
      this.judgeCanary = false;
      await this.judge(canary, `a message failed on the canary ${next.attempts} times (limits.maxDeliver)`);
      await this.retry(m, env, 0);
      return;
    }
    if (!next.deadLetter) {
      await this.retry(m, env, next.retryInMs);
      return;
    }
    const dead = {
      agent,
      code,
      reason: text.slice(0, 1000),
      attempts: next.attempts,
      seq: m.seq,
      channel: env.channel,
      id: env.id,
      envelope: env,
    };
    await publishWithRetry(this.ctx.publisher, dlqSubject(agent), JSON.stringify(dead), `dlq-${agent}-${m.seq}`);
    await this.ctx.report({
      type: "dead_lettered",
      agent,
      seq: m.seq,
      channel: env.channel,
      id: env.id,
      code,
      attempts: next.attempts,
    });
    await this.commits.deadLettered(env.id, m.seq);
    this.supervision.deadLettered(env.id);
    m.ack();
  }

  /** Hand a failed message back for another attempt in `ms`; meanwhile its marker says it is not done. */
  private async retry(m: JsMsg, env: Envelope, ms: number): Promise<void> {
    await this.commits.unclaim(env.id, m.seq);
    m.nak(ms);
  }

  /**
   * After a canary call (or with `reason`, when a message only the canary failed would be dead-lettered):
   * if the canary has failed by the rollout rule, stop routing to it at once,
   * let the commits in flight (the canary's acts among them) publish, and record why — so every act
   * of this agent after that fact is the current version's, as the recorder attributes them.
   */
  private async judge(canary: Canary, reason = canary.verdict(this.ctx.rollout)): Promise<void> {
    if (reason === undefined || canary.rolledBack) return;
    const { canary: tally, current, at } = canary.stop(reason);
    this.ctx.log(`agent ${this.name}: canary ${canary.canary.component} rolled back: ${reason}`);
    await this.committed();
    await this.ctx.report({
      type: "canary_rolled_back",
      agent: this.name,
      component: canary.canary.component,
      digest: canary.canary.digest,
      reason,
      at,
      ...tallies(tally, current),
    });
    this.ctx.canaryRolledBack(this.name, canary, reason);
  }

  private async restart(code: ErrorCode): Promise<void> {
    const outcome = this.supervision.trapped(Date.now(), code);
    if (outcome.failed) {
      this.ctx.log(`agent ${this.name} failed: ${outcome.reason}`);
      await this.ctx.setStatus(this.name, "failed", outcome.reason);
      await this.ctx.report({
        type: "agent_failed",
        agent: this.name,
        code: "AGORA_ERR_AGENT_FAILED",
        reason: outcome.reason,
        restarts: outcome.restarts,
      });
      return;
    }
    await this.ctx.pool
      .respawn(this.name)
      .catch((err) => this.ctx.log(`agent ${this.name}: respawn failed: ${String(err)}`));
  }
}
