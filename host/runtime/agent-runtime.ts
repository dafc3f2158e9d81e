// AgentRuntime: the controls around one hosted agent — echo, idempotency, hop,
// the kill switch, supervision — and the crash-safe commit of a call's effects.
//
// Commit protocol (exactly-once effect per (agent, id)): after a successful call
// the host signs the emitted envelopes, writes them and the state writes to a
// one-entry write-ahead log `wal.<agent>` (only when there are effects), applies
// them (publishes with deterministic Nats-Msg-Ids, KV puts), then writes the
// processed marker `<agent>.<id>` and acks. A crash anywhere in between is
// repaired at the next start by re-applying the WAL, which is idempotent.
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { KeyObject } from "node:crypto";
import type { AgoraConfig, HostedAgentConfig } from "../../config/config.js";
import type { Envelope } from "../../protocol/envelope.js";
import { AgoraError, ERROR_CODES, type ErrorCode } from "../../protocol/errors.js";
import type { HostEvent } from "../../protocol/events.js";
import { emittedId } from "../../protocol/ids.js";
import type { HostMetrics } from "../metrics.js";
import { publishWithRetry } from "../../transport/publisher.js";
import { channelSubject, dlqSubject, markerKey, stateKey, stateKeys, walKey, decodeStateKey } from "../../protocol/subjects.js";
import { signEnvelope } from "../../trust/signing.js";
import type { Verifier } from "../../trust/verifier.js";
import type { WorkerPool } from "../workers/worker-pool.js";
import type { CallResult, ComponentEnvelope, StateOp } from "../workers/worker-protocol.js";

/** Value of a processed marker while its message is being handled. */
const INFLIGHT = "inflight";


/** What the runtime needs from its host. */
export interface RuntimeContext {
  js: JetStreamClient;
  state: KV;
  processed: KV;
  pool: WorkerPool;
  verifier: Verifier;
  metrics: HostMetrics;
  limits: AgoraConfig["limits"];
  /** Report a decision (counted, streamed, and — for enforcement — recorded). */
  report(event: HostEvent): Promise<void>;
  /** Publish an agent's status for the gateway. */
  setStatus(agent: string, status: "running" | "failed", reason?: string): Promise<void>;
  /** Whether this host still holds the agent's placement lease (checked before every call and commit). */
  holdsLease(agent: string): boolean;
  log(line: string): void;
}

/** The effects of one successful call, as written to the WAL. */
interface Commit {
  id: string;
  seq: number;
  envelopes: Envelope[];
  state: StateOp[];
}

/** An agent's committed state, read from KV. */
export async function loadAgentState(kv: KV, agent: string): Promise<[string, string][]> {
  const state: [string, string][] = [];
  for await (const k of await kv.keys(stateKeys(agent))) {
    const entry = await kv.get(k);
    const key = decodeStateKey(agent, k);
    if (entry && entry.operation === "PUT" && key !== undefined) state.push([key, entry.string()]);
  }
  return state;
}

function toComponentEnvelope(env: Envelope): ComponentEnvelope {
  return {
    v: env.v,
    id: env.id,
    channel: env.channel,
    sender: env.sender,
    act: env.act,
    body: JSON.stringify(env.body),
    hop: env.hop,
    ts: env.ts,
    re: env.re ?? null,
    conv: env.conv ?? null,
    sig: env.sig,
  };
}

/** The `AGORA_ERR_…` code at the start of a component error, or the trap code. */
function codeOf(error: string | undefined): ErrorCode {
  const m = /^(AGORA_ERR_[A-Z_]+)/.exec(error ?? "");
  return m && m[1]! in ERROR_CODES ? (m[1] as ErrorCode) : "AGORA_ERR_COMPONENT_TRAP";
}

export class AgentRuntime {
  readonly name: string;
  readonly config: HostedAgentConfig;
  private readonly key: KeyObject;
  private readonly ctx: RuntimeContext;
  private tail: Promise<unknown> = Promise.resolve();
  /** Calls handed to the component whose effects were committed. */
  handled = 0;
  private killedFlag = false;
  private failedFlag = false;
  private stoppingFlag = false;
  /** The placement lease is gone: nothing more may be committed from here. */
  private fencedFlag = false;
  private holdUntil = 0;
  private wake?: () => void;
  private revival?: Promise<void>;
  private readonly restarts: number[] = [];
  private readonly attempts = new Map<string, number>();
  /** A commit written to the WAL but not (fully) applied yet: applied before anything else. */
  private pending?: Commit;
  /** The exact text of envelopes this runtime published recently, to recognise their echo. */
  private readonly sent = new Set<string>();

  constructor(config: HostedAgentConfig, key: KeyObject, ctx: RuntimeContext) {
    this.name = config.name;
    this.config = config;
    this.key = key;
    this.ctx = ctx;
  }

  /** Process messages one at a time per agent, whichever channel they come from. */
  enqueue(m: JsMsg): Promise<void> {
    const run = this.tail.then(() => this.process(m));
    this.tail = run.catch(() => {});
    return run;
  }

  get killed(): boolean {
    return this.killedFlag;
  }

  get failed(): boolean {
    return this.failedFlag;
  }

  /** True while nothing should be pulled for this agent: killed, failed, or backing off after a trap. */
  paused(): boolean {
    return this.killedFlag || this.failedFlag || Date.now() < this.holdUntil;
  }

  /** Resolves when pulling may resume (or on release()). */
  resumed(): Promise<void> {
    this.revival ??= new Promise((r) => (this.wake = r));
    if (!this.killedFlag && !this.failedFlag) {
      const t = setTimeout(() => this.unpause(), Math.max(0, this.holdUntil - Date.now()));
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
    if (!killed && this.failedFlag) {
      this.failedFlag = false;
      this.restarts.length = 0;
      void this.ctx.pool.respawn(this.name).catch(() => {});
      void this.ctx.setStatus(this.name, "running");
    }
    if (killed === this.killedFlag) {
      if (!killed) this.unpause();
      return;
    }
    this.killedFlag = killed;
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
    this.unpause();
  }

  private fence(): void {
    if (this.fencedFlag || !this.ctx.holdsLease(this.name)) throw new AgoraError("AGORA_ERR_LEASE_LOST", `agent ${this.name}: placement lease lost; its next host finishes this message`);
  }

  /** Wait for the message in hand to finish. */
  idle(): Promise<unknown> {
    return this.tail;
  }

  /**
   * Finish a commit a crash interrupted (call before consuming). The instance is
   * then reloaded, so it sees the state the commit wrote.
   */
  async recover(): Promise<void> {
    const entry = await this.ctx.processed.get(walKey(this.name));
    if (!entry || entry.operation !== "PUT") return;
    const commit = entry.json<Commit>();
    const done = await this.ctx.processed.get(markerKey(this.name, commit.id));
    if (done?.operation === "PUT" && done.string() !== INFLIGHT) return;
    this.ctx.log(`agent ${this.name}: finishing the commit of ${commit.id} interrupted by a crash`);
    await this.apply(commit);
    await this.ctx.pool.respawn(this.name);
  }

  private async process(m: JsMsg): Promise<void> {
    try {
      await this.handle(m);
    } catch (err) {
      // NATS or KV unavailable mid-commit: hand the message back. A commit already
      // in the WAL is applied on the next attempt; otherwise the instance is
      // reloaded from KV so the call's uncommitted state is forgotten.
      this.ctx.log(`agent ${this.name}: seq ${m.seq}: ${String(err)}; will retry`);
      if (!this.pending && !this.stoppingFlag) await this.ctx.pool.respawn(this.name).catch(() => {});
      m.nak(500);
    }
  }

  /**
   * Claim (agent, id): an atomic create of the processed marker as "inflight".
   * True when the id was already processed (or dead-lettered); an "inflight"
   * marker left by an interrupted attempt is ours to finish.
   */
  private async claim(id: string): Promise<boolean> {
    const key = markerKey(this.name, id);
    try {
      await this.ctx.processed.create(key, INFLIGHT);
      return false;
    } catch {
      const e = await this.ctx.processed.get(key);
      return e?.operation === "PUT" && e.string() !== INFLIGHT;
    }
  }

  /** The envelope if `data` is exactly one this runtime published (its own echo). */
  private ownEcho(data: Uint8Array): { id: string; channel: string } | undefined {
    if (this.sent.size === 0) return undefined;
    const text = Buffer.from(data).toString("utf8");
    if (!this.sent.delete(text)) return undefined; // a set lookup: other messages are not parsed twice
    const v = JSON.parse(text) as { id: string; channel: string };
    return { id: v.id, channel: v.channel };
  }

  /** Apply the pending commit (WAL written, apply interrupted) before anything else. */
  private async settle(): Promise<void> {
    if (!this.pending) return;
    await this.apply(this.pending);
    this.pending = undefined;
    this.handled++;
  }

  private async handle(m: JsMsg): Promise<void> {
    const seq = m.seq;
    const agent = this.name;
    const own = this.ownEcho(m.data);
    if (own) {
      // Byte for byte what this host signed and published for this agent: no need to verify again.
      await this.ctx.report({ type: "echo_dropped", agent, seq, channel: own.channel, id: own.id });
      m.ack();
      return;
    }
    const verdict = await this.ctx.verifier.verify(m.data, m.subject);
    if (!verdict.ok) {
      // Recorded once by the facts recorder from the stream; here only counted.
      await this.ctx.report({ type: "rejected", agent, seq, channel: verdict.env?.channel, id: verdict.env?.id, code: verdict.code, reason: verdict.reason });
      m.ack();
      return;
    }
    const env = verdict.env;
    const base = { agent, seq, channel: env.channel, id: env.id };
    if (Date.now() - Date.parse(env.ts) > this.ctx.limits.maxMessageAgeMs) {
      // Processed markers expire: an envelope this old may have been handled already. Refuse it.
      await this.ctx.report({ type: "rejected", agent, seq, channel: env.channel, id: env.id, code: "AGORA_ERR_TIMESTAMP", reason: `older than limits.maxMessageAge (${this.ctx.limits.maxMessageAgeMs} ms)` });
      m.ack();
      return;
    }
    if (env.sender === agent) {
      await this.ctx.report({ type: "echo_dropped", ...base });
      m.ack();
      return;
    }
    await this.settle();
    // The kill switch: checked last, right before the call, so no delivery starts once it is set.
    if (this.stoppingFlag || !this.ctx.holdsLease(agent)) {
      m.nak(); // the agent's next host takes it at once
      return;
    }
    if (this.paused()) {
      this.ctx.metrics.drops.inc({ control: this.killedFlag ? "killed" : "held" });
      m.nak(250);
      return;
    }
    // The processed-marker lookup runs alongside the call: a duplicate is rare, and
    // its speculative call has no effect (nothing is committed, a changed instance is reloaded).
    const started = performance.now();
    const [seen, result] = await Promise.all([this.claim(env.id), this.ctx.pool.call(agent, toComponentEnvelope(env))]);
    if (seen) {
      if (result.trapped || (result.ok && result.state.length > 0)) await this.ctx.pool.respawn(agent);
      await this.ctx.report({ type: "duplicate", ...base });
      m.ack();
      return;
    }
    await this.ctx.report({ type: "delivered", ...base, sender: env.sender, act: env.act, hop: env.hop, at: performance.timeOrigin + started });
    for (const target of result.blocked) {
      await this.ctx.report({ type: "blocked", ...base, target, code: "AGORA_ERR_NOT_GRANTED" });
    }
    if (!result.ok) {
      await this.failure(m, env, result);
      return;
    }
    this.attempts.delete(env.id);
    const commit = await this.prepare(env, result, seq);
    // Sends alone need no WAL: their ids are derived from (agent, input, index), so a re-run after a
    // crash republishes the same ids and JetStream drops them. State writes do need it.
    if (commit.state.length > 0) {
      this.fence(); // a stale owner must not leave a WAL for the next one to replay
      await this.ctx.processed.put(walKey(agent), JSON.stringify(commit));
    }
    this.pending = commit;
    await this.settle();
    m.ack();
    this.ctx.metrics.handleSeconds.observe({ agent }, (performance.now() - started) / 1000);
  }

  /** Stamp and sign what the call emitted (unless the hop budget is spent). */
  private async prepare(parent: Envelope, result: CallResult, seq: number): Promise<Commit> {
    const agent = this.name;
    const envelopes: Envelope[] = [];
    if (result.sends.length > 0 && parent.hop === 0) {
      await this.ctx.report({ type: "hop_exhausted", agent, seq, channel: parent.channel, id: parent.id, dropped: result.sends.length });
    } else {
      const ts = new Date().toISOString();
      for (const [i, s] of result.sends.entries()) {
        envelopes.push(
          signEnvelope(this.key, {
            v: 1,
            id: emittedId(agent, parent.id, i),
            channel: s.channel,
            sender: agent,
            act: s.act,
            body: JSON.parse(s.body),
            hop: parent.hop - 1,
            ts,
            ...(s.re ? { re: s.re } : {}),
            conv: parent.conv ?? parent.id,
          }),
        );
      }
    }
    return { id: parent.id, seq, envelopes, state: result.state };
  }

  /** Apply a commit: publish (deduplicated by id), write state, mark processed. Idempotent. */
  private async apply(c: Commit): Promise<void> {
    const agent = this.name;
    this.fence();
    const acks = await Promise.all(
      c.envelopes.map((env) => {
        const text = JSON.stringify(env); // encoded once: published, and remembered to spot its echo
        this.sent.add(text);
        if (this.sent.size > 10_000) this.sent.delete(this.sent.values().next().value!);
        return publishWithRetry(this.ctx.js, channelSubject(env.channel), text, env.id);
      }),
    );
    for (const [i, ack] of acks.entries()) {
      if (ack.duplicate) continue;
      const env = c.envelopes[i]!;
      await this.ctx.report({ type: "emitted", agent, channel: env.channel, id: env.id, act: env.act, hop: env.hop, re: env.re });
    }
    // The last write of each key wins; distinct keys are written concurrently.
    const last = new Map<string, StateOp>();
    for (const op of c.state) last.set(op.key, op);
    this.fence();
    await Promise.all(
      [...last.values()].map((op) => (op.op === "set" ? this.ctx.state.put(stateKey(agent, op.key), op.value) : this.ctx.state.delete(stateKey(agent, op.key)))),
    );
    await this.ctx.processed.put(markerKey(agent, c.id), String(c.seq));
  }

  /**
   * A failed call: discard its effects, record it, and — for a trap — restart the
   * instance from KV with exponential backoff, marking the agent failed after
   * too many restarts in the window. The message is retried up to maxDeliver
   * attempts, then dead-lettered.
   */
  private async failure(m: JsMsg, env: Envelope, result: CallResult): Promise<void> {
    const agent = this.name;
    const limits = this.ctx.limits;
    if (result.retry) {
      m.nak(100); // collateral of another agent's restart: not this message's fault
      return;
    }
    const code = codeOf(result.error);
    await this.ctx.report({ type: "failed", agent, seq: m.seq, channel: env.channel, id: env.id, code, error: (result.error ?? "").slice(0, 500) });
    if (result.trapped) await this.restart(code);
    const attempts = (this.attempts.get(env.id) ?? 0) + 1;
    this.attempts.set(env.id, attempts);
    if (this.attempts.size > 10_000) this.attempts.delete(this.attempts.keys().next().value!);
    if (attempts < limits.maxDeliver) {
      m.nak(Math.min(limits.restartBackoffMs * 2 ** (attempts - 1), 30_000));
      return;
    }
    const dead = { agent, code, reason: (result.error ?? "").slice(0, 1000), attempts, seq: m.seq, channel: env.channel, id: env.id, envelope: env };
    await publishWithRetry(this.ctx.js, dlqSubject(agent), JSON.stringify(dead), `dlq-${agent}-${m.seq}`);
    await this.ctx.report({ type: "dead_lettered", agent, seq: m.seq, channel: env.channel, id: env.id, code, attempts });
    this.attempts.delete(env.id);
    await this.ctx.processed.put(markerKey(agent, env.id), `dlq:${m.seq}`);
    m.ack();
  }

  private async restart(code: ErrorCode): Promise<void> {
    const { maxRestarts, restartWindowMs, restartBackoffMs } = this.ctx.limits;
    const now = Date.now();
    this.restarts.push(now);
    while (this.restarts.length > 0 && this.restarts[0]! < now - restartWindowMs) this.restarts.shift();
    if (this.restarts.length > maxRestarts) {
      this.failedFlag = true;
      const reason = `${this.restarts.length} restarts within ${restartWindowMs} ms (last: ${code})`;
      this.ctx.log(`agent ${this.name} failed: ${reason}`);
      await this.ctx.setStatus(this.name, "failed", reason);
      await this.ctx.report({ type: "agent_failed", agent: this.name, code: "AGORA_ERR_AGENT_FAILED", reason, restarts: this.restarts.length });
      return;
    }
    this.holdUntil = now + Math.min(restartBackoffMs * 2 ** (this.restarts.length - 1), 30_000);
    await this.ctx.pool.respawn(this.name).catch((err) => this.ctx.log(`agent ${this.name}: respawn failed: ${String(err)}`));
  }
}
