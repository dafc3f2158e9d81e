// AgentRuntime: the controls around one hosted agent — echo, idempotency, hop, effects.
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { KeyObject } from "node:crypto";
import type { HostedAgentConfig } from "./config.js";
import type { Envelope } from "./envelope.js";
import type { ErrorCode } from "./errors.js";
import { ERROR_CODES } from "./errors.js";
import type { HostEvent } from "./events.js";
import { emittedId } from "./ids.js";
import type { Verifier } from "./verifier.js";
import type { WorkerPool } from "./worker-pool.js";
import type { CallResult, ComponentEnvelope } from "./worker-protocol.js";
import { signAndPublish } from "./publisher.js";
import type { HostMetrics } from "./metrics.js";

/** What the runtime needs from its host. */
export interface RuntimeContext {
  js: JetStreamClient;
  state: KV;
  processed: KV;
  pool: WorkerPool;
  verifier: Verifier;
  metrics: HostMetrics;
  /** Report a decision (counted, streamed, and — for enforcement — recorded). */
  report(event: HostEvent): Promise<void>;
}

/** KV key of an agent's state entry: `<agent>.<base64url(key)>`. */
export function stateKey(agent: string, key: string): string {
  return `${agent}.${Buffer.from(key, "utf8").toString("base64url")}`;
}

/** Decode a state KV key back to the component's key. */
export function decodeStateKey(agent: string, kvKey: string): string | undefined {
  const prefix = `${agent}.`;
  return kvKey.startsWith(prefix) ? Buffer.from(kvKey.slice(prefix.length), "base64url").toString("utf8") : undefined;
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
  /** Messages handled by the component (each (agent, id) once). */
  handled = 0;
  private killedFlag = false;
  private wake?: () => void;
  private revival?: Promise<void>;

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

  /** Kill (no delivery starts after this returns) or revive the agent. */
  setKilled(killed: boolean): void {
    if (killed === this.killedFlag) return;
    this.killedFlag = killed;
    if (killed) this.revival = new Promise((r) => (this.wake = r));
    else {
      this.wake?.();
      this.revival = undefined;
    }
  }

  /** Resolves when the agent is revived (at once if it is not killed). */
  revived(): Promise<void> {
    return this.revival ?? Promise.resolve();
  }

  /** Wake a loop waiting for revival (used on close). */
  release(): void {
    this.wake?.();
  }

  /** Wait for the message in hand to finish. */
  idle(): Promise<unknown> {
    return this.tail;
  }

  private async process(m: JsMsg): Promise<void> {
    const seq = m.seq;
    const agent = this.name;
    const verdict = await this.ctx.verifier.verify(m.data, m.subject);
    if (!verdict.ok) {
      // Recorded once by the facts recorder from the stream; here only counted.
      this.ctx.metrics.rejects.inc({ reason: verdict.code });
      await this.ctx.report({ type: "rejected", agent, seq, channel: verdict.env?.channel, id: verdict.env?.id, code: verdict.code, reason: verdict.reason });
      m.ack();
      return;
    }
    const env = verdict.env;
    const base = { agent, seq, channel: env.channel, id: env.id };
    if (env.sender === agent) {
      this.ctx.metrics.drops.inc({ control: "echo" });
      await this.ctx.report({ type: "echo_dropped", ...base });
      m.ack();
      return;
    }
    const marker = `${agent}.${env.id}`;
    if (await this.ctx.processed.get(marker)) {
      this.ctx.metrics.drops.inc({ control: "duplicate" });
      await this.ctx.report({ type: "duplicate", ...base });
      m.ack();
      return;
    }
    // The kill switch: checked last, right before the call, so no delivery starts once it is set.
    if (this.killedFlag) {
      this.ctx.metrics.drops.inc({ control: "killed" });
      m.nak(250);
      return;
    }
    const started = performance.now();
    await this.ctx.report({ type: "delivered", ...base, sender: env.sender, act: env.act, hop: env.hop, at: performance.timeOrigin + started });
    this.ctx.metrics.messagesIn.inc({ channel: env.channel });
    const result = await this.ctx.pool.call(agent, toComponentEnvelope(env));
    this.handled++;
    for (const target of result.blocked) {
      this.ctx.metrics.drops.inc({ control: "blocked" });
      await this.ctx.report({ type: "blocked", ...base, target, code: "AGORA_ERR_NOT_GRANTED" });
    }
    if (!result.ok) {
      this.ctx.metrics.failures.inc({ agent });
      await this.ctx.report({ type: "failed", ...base, code: codeOf(result.error), error: (result.error ?? "").slice(0, 500) });
    } else {
      await this.commit(env, result, seq);
    }
    await this.ctx.processed.put(marker, String(seq));
    m.ack();
    this.ctx.metrics.handleSeconds.observe({ agent }, (performance.now() - started) / 1000);
  }

  /** Publish the call's sends (host-stamped) and write its state, unless the hop budget is spent. */
  private async commit(parent: Envelope, result: CallResult, seq: number): Promise<void> {
    const agent = this.name;
    if (result.sends.length > 0 && parent.hop === 0) {
      this.ctx.metrics.drops.inc({ control: "hop" }, result.sends.length);
      await this.ctx.report({ type: "hop_exhausted", agent, seq, channel: parent.channel, id: parent.id, dropped: result.sends.length });
    } else {
      for (const [i, s] of result.sends.entries()) {
        const { env } = await signAndPublish(this.ctx.js, this.key, {
          v: 1,
          id: emittedId(agent, parent.id, i),
          channel: s.channel,
          sender: agent,
          act: s.act,
          body: JSON.parse(s.body),
          hop: parent.hop - 1,
          ts: new Date().toISOString(),
          ...(s.re ? { re: s.re } : {}),
          conv: parent.conv ?? parent.id,
        });
        this.ctx.metrics.messagesOut.inc({ channel: env.channel });
        await this.ctx.report({ type: "emitted", agent, channel: env.channel, id: env.id, act: env.act, hop: env.hop, re: env.re });
      }
    }
    for (const op of result.state) {
      if (op.op === "set") await this.ctx.state.put(stateKey(agent, op.key), op.value);
      else await this.ctx.state.delete(stateKey(agent, op.key));
    }
  }
}
