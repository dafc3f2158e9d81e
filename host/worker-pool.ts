// WorkerPool: the threads hosted agents run on, off the thread that talks to NATS.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { AgoraError } from "./errors.js";
import type { LoadedComponent } from "./component-loader.js";
import type { CallResult, ComponentEnvelope, FromWorker, ToWorker, WorkerLimits } from "./worker-protocol.js";

export const DEFAULT_WORKER_LIMITS: WorkerLimits = {
  maxBodyBytes: 60 * 1024,
  maxSendsPerCall: 64,
  maxStateKeyBytes: 256,
  maxStateValueBytes: 64 * 1024,
};

/**
 * Start an agent worker: the compiled `agent-worker.js` next to this file, or —
 * when running from TypeScript sources (tests) — the `.ts` entry through tsx.
 */
function startWorker(): Worker {
  const self = import.meta.url;
  if (!self.endsWith(".ts")) return new Worker(new URL("./agent-worker.js", self));
  const tsx = pathToFileURL(createRequire(self).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs")).href;
  const entry = new URL("./agent-worker.ts", self).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, { eval: true });
}

class PoolWorker {
  readonly worker: Worker;
  readonly loaded = new Map<string, Promise<void>>();
  private readonly waiting = new Map<string, { resolve: (v?: unknown) => void; reject: (e: Error) => void }>();
  private readonly calls = new Map<number, (r: CallResult) => void>();
  agents = 0;

  constructor() {
    this.worker = startWorker();
    this.worker.on("message", (msg: FromWorker) => this.onMessage(msg));
    this.worker.on("error", (err) => this.failAll(err));
    this.worker.on("exit", (code) => this.failAll(new Error(`worker exited with code ${code}`)));
    this.worker.unref();
  }

  private onMessage(msg: FromWorker): void {
    if (msg.type === "result") {
      this.calls.get(msg.callId)?.(msg.result);
      this.calls.delete(msg.callId);
      return;
    }
    const key = msg.type === "loaded" ? `load:${msg.digest}` : `spawn:${msg.agent}`;
    const w = this.waiting.get(key);
    this.waiting.delete(key);
    if (!w) return;
    if (msg.error) w.reject(new AgoraError("AGORA_ERR_COMPONENT_LOAD", msg.error));
    else w.resolve();
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    for (const resolve of this.calls.values()) {
      resolve({ ok: false, trapped: true, error: `AGORA_ERR_COMPONENT_TRAP: worker died: ${err.message}`, sends: [], state: [], blocked: [], micros: 0 });
    }
    this.calls.clear();
  }

  request(key: string, msg: ToWorker): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.set(key, { resolve: () => resolve(), reject });
      this.worker.postMessage(msg);
    });
  }

  call(callId: number, msg: ToWorker): Promise<CallResult> {
    return new Promise((resolve) => {
      this.calls.set(callId, resolve);
      this.worker.postMessage(msg);
    });
  }
}

export class WorkerPool {
  private readonly workers: PoolWorker[];
  private readonly placement = new Map<string, PoolWorker>();
  private nextCall = 1;

  constructor(size: number) {
    this.workers = Array.from({ length: Math.max(1, size) }, () => new PoolWorker());
  }

  /** Instantiate `agent` from `component` on the least-loaded worker, with its saved state. */
  async spawn(
    agent: string,
    component: LoadedComponent,
    writable: readonly string[],
    state: [string, string][],
    limits: WorkerLimits = DEFAULT_WORKER_LIMITS,
  ): Promise<void> {
    const w = this.placement.get(agent) ?? this.workers.reduce((a, b) => (b.agents < a.agents ? b : a));
    let loaded = w.loaded.get(component.digest);
    if (!loaded) {
      loaded = w.request(`load:${component.digest}`, {
        type: "load",
        digest: component.digest,
        gluePath: component.gluePath,
        modules: component.modules,
      });
      w.loaded.set(component.digest, loaded);
    }
    await loaded;
    await w.request(`spawn:${agent}`, { type: "spawn", agent, digest: component.digest, writable: [...writable], state, limits });
    if (!this.placement.has(agent)) w.agents++;
    this.placement.set(agent, w);
  }

  /** Run `handle(env)` for `agent`; resolves with the call's effects, never rejects. */
  call(agent: string, env: ComponentEnvelope): Promise<CallResult> {
    const w = this.placement.get(agent);
    if (!w) {
      return Promise.resolve({ ok: false, error: `AGORA_ERR_COMPONENT_LOAD: ${agent} is not spawned`, sends: [], state: [], blocked: [], micros: 0 });
    }
    const callId = this.nextCall++;
    return w.call(callId, { type: "call", callId, agent, env });
  }

  drop(agent: string): void {
    const w = this.placement.get(agent);
    if (!w) return;
    w.worker.postMessage({ type: "drop", agent } satisfies ToWorker);
    w.agents--;
    this.placement.delete(agent);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
