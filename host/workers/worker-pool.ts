// WorkerPool: the threads hosted agents run on, off the thread that talks to NATS.
// A call that overruns its deadline terminates its worker; the worker is replaced
// and its agents are instantiated again from their state in KV.
import { DEFAULT_CALL_DEADLINE_MS } from "../../config/defaults.js";
import type { Worker } from "node:worker_threads";
import { startModuleWorker } from "../../transport/start-worker.js";
import { AgoraError, fromWireError, type WireError } from "../../protocol/errors.js";
import type { LoadedComponent } from "../components/component-loader.js";
import {
  NOT_RUN,
  type Call,
  type CallResult,
  type FromWorker,
  type ToWorker,
  type WorkerLimits,
} from "./worker-protocol.js";

export const DEFAULT_WORKER_LIMITS: WorkerLimits = {
  maxBodyBytes: 60 * 1024,
  maxSendsPerCall: 64,
  maxStateKeyBytes: 256,
  maxStateValueBytes: 64 * 1024,
  maxTimers: 16,
};

/** What an agent is instantiated from: its committed state and the tags of its timers waiting to fire. */
export interface AgentSnapshot {
  state: [string, string][];
  timers: string[];
}

export interface WorkerPoolOptions {
  size: number;
  /** Per-call deadline in ms. */
  deadlineMs?: number;
  /** An agent's committed state and timers, read from KV when it is (re)instantiated. */
  loadState(agent: string): Promise<AgentSnapshot>;
  /**
   * Instances idle this long are dropped and made again from KV on their agent's
   * next call; an agent is then instantiated on its first call, not at spawn.
   * 0 (the default) keeps every instance from spawn on.
   */
  idleMs?: number;
  log?(line: string): void;
}

const failed = (error: WireError, extra: Partial<CallResult> = {}): CallResult => ({
  ok: false,
  error,
  sends: [],
  state: [],
  blocked: [],
  micros: 0,
  ...extra,
});

class PoolWorker {
  readonly worker: Worker;
  readonly loaded = new Map<string, Promise<void>>();
  readonly agents = new Set<string>();
  private readonly waiting = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  readonly batches = new Map<number, { agent: string; size: number; resolve: (r: CallResult[]) => void }>();
  /** Written by the worker: [the batch it runs (0: none), when its current call started (ms since the epoch), that call's index]. */
  readonly clock = new Float64Array(new SharedArrayBuffer(24));
  terminated = false;

  constructor(onDeath: (w: PoolWorker, err: Error) => void) {
    this.worker = startModuleWorker(import.meta.url, "agent-worker");
    this.worker.postMessage({ type: "clock", clock: this.clock.buffer as SharedArrayBuffer } satisfies ToWorker);
    this.worker.on("message", (msg: FromWorker) => this.onMessage(msg));
    this.worker.on("error", (err) => onDeath(this, err));
    this.worker.on("exit", (code) => onDeath(this, new Error(`worker exited with code ${code}`)));
    this.worker.unref();
  }

  private onMessage(msg: FromWorker): void {
    if (msg.type === "results") {
      this.batches.get(msg.batch)?.resolve(msg.results);
      this.batches.delete(msg.batch);
      return;
    }
    const key = msg.type === "loaded" ? `load:${msg.digest}` : `spawn:${msg.agent}`;
    const w = this.waiting.get(key);
    this.waiting.delete(key);
    if (!w) return;
    if (msg.error) w.reject(fromWireError(msg.error));
    else w.resolve();
  }

  /**
   * Resolve everything outstanding: the culprit's call (batch and index) as a trap; every other call
   * — its batch's others too, whose effects died with the worker — as `retry`.
   */
  failAll(err: Error, culprit?: { batch: number; index: number; error: WireError }): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    const retry = failed({ code: "AGORA_ERR_WORKER_RESTART", message: err.message }, { retry: true });
    for (const [batch, { size, resolve }] of this.batches)
      resolve(
        Array.from({ length: size }, (_, i) =>
          culprit?.batch === batch && culprit.index === i ? failed(culprit.error, { trapped: true }) : retry,
        ),
      );
    this.batches.clear();
  }

  request(key: string, msg: ToWorker): Promise<void> {
    if (this.terminated) return Promise.reject(new AgoraError("AGORA_ERR_COMPONENT_LOAD", "worker was terminated"));
    return new Promise((resolve, reject) => {
      this.waiting.set(key, { resolve, reject });
      this.worker.postMessage(msg);
    });
  }

  load(component: LoadedComponent): Promise<void> {
    let loaded = this.loaded.get(component.digest);
    if (!loaded) {
      loaded = this.request(`load:${component.digest}`, {
        type: "load",
        digest: component.digest,
        gluePath: component.gluePath,
        modules: component.modules,
      });
      this.loaded.set(component.digest, loaded);
    }
    return loaded;
  }
}

interface Placement {
  /** The current version, and the canary beside it during a rollout: one instance each, one state. */
  versions: readonly LoadedComponent[];
  writable: readonly string[];
  limits: WorkerLimits;
  worker: PoolWorker;
  /** Settles when the agent's current instance is ready. */
  ready: Promise<void>;
  /** An instance exists (or is being made); false while a lazy agent has none. */
  instantiated: boolean;
  /** Calls in flight, and when the last one ended (for idle eviction). */
  calls: number;
  lastUsed: number;
  /** Int32 shared with the worker: 1 while the agent is halted (no call of it starts). */
  halt: Int32Array;
}

export class WorkerPool {
  private readonly workers: PoolWorker[];
  private readonly placement = new Map<string, Placement>();
  private readonly options: WorkerPoolOptions;
  private nextBatch = 1;
  /** Workers replaced after a deadline. */
  restarts = 0;

  private readonly sweeper?: NodeJS.Timeout;
  private readonly watchdog: NodeJS.Timeout;
  /** Per-call deadline in ms. */
  private readonly deadline: number;

  constructor(options: WorkerPoolOptions) {
    this.options = options;
    this.workers = Array.from({ length: Math.max(1, options.size) }, () => this.newWorker());
    this.deadline = options.deadlineMs ?? DEFAULT_CALL_DEADLINE_MS;
    this.watchdog = setInterval(() => this.watch(), Math.min(250, Math.max(5, this.deadline / 20)));
    this.watchdog.unref();
    const idle = options.idleMs ?? 0;
    if (idle > 0) {
      this.sweeper = setInterval(() => this.evictIdle(idle), Math.max(50, idle / 2));
      this.sweeper.unref();
    }
  }

  /** Drop the instances idle for `idleMs`: their agents' state is in KV, and the next call instantiates them again. */
  private evictIdle(idleMs: number): void {
    const now = Date.now();
    for (const [agent, p] of this.placement) {
      if (!p.instantiated || p.calls > 0 || now - p.lastUsed < idleMs || p.worker.terminated) continue;
      p.instantiated = false;
      p.worker.worker.postMessage({ type: "drop", agent } satisfies ToWorker);
    }
  }

  /** Agents with an instance now. */
  instances(): number {
    let n = 0;
    for (const p of this.placement.values()) if (p.instantiated) n++;
    return n;
  }

  private newWorker(): PoolWorker {
    return new PoolWorker((w, err) => {
      if (!w.terminated) this.replace(w, err);
    });
  }

  /**
   * Replace a worker (deadline overrun or crash): its agents move to a fresh
   * worker and are instantiated from KV before any call reaches them; calls in
   * flight fail — the culprit's as a trap, the others as `retry`.
   */
  private replace(w: PoolWorker, err: Error, culprit?: { batch: number; index: number; error: WireError }): void {
    if (w.terminated && !culprit) return;
    w.terminated = true;
    this.restarts++;
    const fresh = this.newWorker();
    this.workers[this.workers.indexOf(w)] = fresh;
    for (const name of w.agents) {
      const p = this.placement.get(name)!;
      p.worker = fresh;
      fresh.agents.add(name);
      if (!p.instantiated) continue; // made on its next call, on the fresh worker
      this.instantiate(name, p, this.options.loadState(name)).catch((e) =>
        this.options.log?.(`agent ${name}: restart failed: ${String(e)}`),
      );
    }
    w.failAll(err, culprit);
    void w.worker.terminate();
  }

  /** (Re)instantiate `agent`; instantiations of one agent run one after another. */
  private instantiate(agent: string, p: Placement, snapshot: AgentSnapshot | Promise<AgentSnapshot>): Promise<void> {
    const previous = p.ready.catch(() => {});
    p.instantiated = true;
    p.ready = (async () => {
      await previous;
      const w = p.worker;
      await Promise.all(p.versions.map((v) => w.load(v)));
      const { state, timers } = await snapshot;
      await w.request(`spawn:${agent}`, {
        type: "spawn",
        agent,
        digests: p.versions.map((v) => v.digest),
        writable: [...p.writable],
        state,
        timers,
        limits: p.limits,
        halt: p.halt.buffer as SharedArrayBuffer,
      });
    })();
    return p.ready;
  }

  /**
   * Instantiate `agent` on the least-loaded worker, with its saved state: one instance per
   * version — `[current]`, or `[current, canary]` during a rollout (calls name theirs).
   */
  async spawn(
    agent: string,
    versions: readonly LoadedComponent[],
    writable: readonly string[],
    snapshot: AgentSnapshot,
    limits: WorkerLimits = DEFAULT_WORKER_LIMITS,
  ): Promise<void> {
    const worker =
      this.placement.get(agent)?.worker ?? this.workers.reduce((a, b) => (b.agents.size < a.agents.size ? b : a));
    const p: Placement = {
      versions,
      writable,
      limits,
      worker,
      ready: Promise.resolve(),
      instantiated: false,
      calls: 0,
      lastUsed: Date.now(),
      halt: new Int32Array(new SharedArrayBuffer(4)),
    };
    // Lazy: the component is compiled on the worker now (a bad one is refused at start), instantiated on its first call.
    if (this.options.idleMs) await Promise.all(versions.map((v) => worker.load(v)));
    else await this.instantiate(agent, p, snapshot);
    worker.agents.add(agent);
    this.placement.set(agent, p);
  }

  /** Instantiate `agent` again from its state in KV (after a trap). */
  async respawn(agent: string): Promise<void> {
    const p = this.placement.get(agent);
    if (!p) return;
    await this.instantiate(agent, p, this.options.loadState(agent));
  }

  /**
   * Halt `agent` (no call of it starts while halted, even one already handed to its worker) or let it run.
   * Read by the worker before each call: a kill takes effect between two calls of a batch.
   */
  halt(agent: string, halted: boolean): void {
    const p = this.placement.get(agent);
    if (p) Atomics.store(p.halt, 0, halted ? 1 : 0);
  }

  /**
   * Run `calls` of `agent` in order, in one message to its worker: `handle(env)` at host time `now`
   * (`timeout`: the tag of the timer `env` is the timeout of). One result each, in their order — the
   * batch stops after a call that failed or wrote state, the rest are `notRun` (ToWorker "calls").
   * Never rejects.
   */
  async calls(agent: string, calls: Call[]): Promise<CallResult[]> {
    const p = this.placement.get(agent);
    if (!p) return calls.map(() => failed({ code: "AGORA_ERR_COMPONENT_LOAD", message: `${agent} is not spawned` }));
    p.calls++;
    try {
      return await this.callPlaced(agent, p, calls);
    } finally {
      p.calls--;
      p.lastUsed = Date.now();
    }
  }

  private async callPlaced(agent: string, p: Placement, calls: Call[]): Promise<CallResult[]> {
    if (!p.instantiated) void this.instantiate(agent, p, this.options.loadState(agent)).catch(() => {});
    // The worker may be replaced while we wait; always post to the current, ready one.
    for (;;) {
      const ready = p.ready;
      try {
        await ready;
      } catch (err) {
        // The first call fails (the agent restarts, or is held); the others are handed back.
        const error = failed(
          { code: "AGORA_ERR_COMPONENT_LOAD", message: `${agent} could not be instantiated: ${String(err)}` },
          { trapped: true, unplaced: true },
        );
        return calls.map((_, i) => (i === 0 ? error : NOT_RUN));
      }
      if (ready === p.ready && !p.worker.terminated) break;
    }
    const w = p.worker;
    const batch = this.nextBatch++;
    return new Promise((resolve) => {
      w.batches.set(batch, { agent, size: calls.length, resolve });
      w.worker.postMessage({ type: "calls", batch, agent, calls } satisfies ToWorker);
    });
  }

  /**
   * The watchdog: a call running past its deadline on any worker is stopped (its worker replaced).
   * One timer for the pool reading each worker's clock, instead of a message and a timer per call.
   */
  private watch(): void {
    const now = Date.now();
    for (const w of this.workers) {
      const batch = w.clock[0]!;
      const started = w.clock[1]!;
      const index = w.clock[2]!;
      if (batch === 0 || w.clock[0] !== batch || now - started <= this.deadline) continue;
      const running = w.batches.get(batch);
      if (running) this.overrun(w, running.agent, batch, index);
    }
  }

  /** A call (`index` of `batch`) overran its deadline: stop its worker, replace it, bring its agents back from KV. */
  private overrun(w: PoolWorker, agent: string, batch: number, index: number): void {
    if (w.terminated) return;
    const deadline = this.deadline;
    this.options.log?.(`agent ${agent}: call exceeded the ${deadline} ms deadline; restarting its worker`);
    this.replace(w, new Error(`deadline of ${deadline} ms exceeded by ${agent}`), {
      batch,
      index,
      error: { code: "AGORA_ERR_DEADLINE", message: `handle did not return within ${deadline} ms` },
    });
  }

  /** Forget `agent` (it moved to another host): its instance is dropped from its worker. */
  remove(agent: string): void {
    const p = this.placement.get(agent);
    if (!p) return;
    if (!p.worker.terminated) p.worker.worker.postMessage({ type: "drop", agent } satisfies ToWorker);
    p.worker.agents.delete(agent);
    this.placement.delete(agent);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    clearInterval(this.watchdog);
    for (const w of this.workers) w.terminated = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
