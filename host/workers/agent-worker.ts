// Worker-thread entry: runs component instances; never touches NATS.
// Imports only record effects; the host commits them after the call returns.
import { parentPort } from "node:worker_threads";
import { pathToFileURL } from "node:url";
import v8 from "node:v8";
import { ACTS } from "../../protocol/envelope.js";
import { isErrorCode, type ErrorCode, type WireError } from "../../protocol/errors.js";
import {
  NOT_RUN,
  sendsOnly,
  type Call,
  type CallResult,
  type ComponentEnvelope,
  type FromWorker,
  type Send,
  type StateOp,
  type TimerOp,
  type ToWorker,
  type WorkerLimits,
} from "./worker-protocol.js";

v8.setFlagsFromString("--experimental-wasm-extended-const");

interface Glue {
  instantiate(
    getCoreModule: (name: string) => WebAssembly.Module,
    imports: object,
  ): Promise<{ handle(env: ComponentEnvelope): void }>;
}

interface CallContext {
  sends: Send[];
  staged: Map<string, string | null>;
  ops: StateOp[];
  blocked: string[];
  /** Timer tags set (true) or cancelled (false) in this call, in order. */
  timerTags: Map<string, boolean>;
  timerOps: TimerOp[];
  now: number;
}

type Instance = { handle(env: ComponentEnvelope): void };

/**
 * One agent on this worker: an instance per version (the current one, and a canary beside it
 * during a rollout), sharing one committed state — a canary's writes are the current version's reads.
 */
interface AgentSlot {
  digests: string[];
  writable: ReadonlySet<string>;
  state: Map<string, string>;
  /** Tags of the timers waiting to fire, as committed. */
  timers: Set<string>;
  limits: WorkerLimits;
  /** [1 while the host halts the agent (killed)]: read before each call. */
  halt: Int32Array;
  ctx?: CallContext;
  instances: (Instance | undefined)[];
}

const components = new Map<string, { glue: Glue; modules: Record<string, WebAssembly.Module> }>();
const agents = new Map<string, AgentSlot>();
/** [the batch running (0: none), when its current call started, that call's index]: shared with the pool, which stops a call past its deadline. */
let clock: Float64Array<ArrayBufferLike> = new Float64Array(3);
const actSet: ReadonlySet<string> = new Set(ACTS);
const utf8 = new TextEncoder();
/** The longest timer tag, in UTF-8 bytes. */
const MAX_TIMER_TAG_BYTES = 128;

function post(msg: FromWorker): void {
  parentPort!.postMessage(msg);
}

function active(slot: AgentSlot): CallContext {
  if (!slot.ctx) throw "AGORA_ERR_USAGE: imports may only be used while handling a message";
  return slot.ctx;
}

function makeImports(slot: AgentSlot): object {
  class Channel {
    readonly #name: string;
    constructor(name: string) {
      this.#name = name;
    }
    name(): string {
      return this.#name;
    }
    send(act: string, body: string, re: string | null | undefined): void {
      const ctx = active(slot);
      if (!slot.writable.has(this.#name)) throw `AGORA_ERR_NOT_GRANTED: no write grant for ${this.#name}`;
      if (!actSet.has(act)) throw `AGORA_ERR_BAD_ENVELOPE: unknown act ${act}`;
      if (ctx.sends.length >= slot.limits.maxSendsPerCall) {
        throw `AGORA_ERR_TOO_LARGE: more than ${slot.limits.maxSendsPerCall} sends in one call`;
      }
      if (utf8.encode(body).byteLength > slot.limits.maxBodyBytes) throw "AGORA_ERR_TOO_LARGE: body too large";
      try {
        JSON.parse(body);
      } catch {
        throw "AGORA_ERR_BAD_BODY: body is not JSON text";
      }
      if (re != null && !/^[A-Za-z0-9_-]{1,64}$/.test(re)) throw "AGORA_ERR_BAD_ENVELOPE: re is not an id";
      ctx.sends.push({ channel: this.#name, act: act as Send["act"], body, re: re ?? null });
    }
  }
  return {
    "agora:agent/channels": {
      Channel,
      writable: () => [...slot.writable].map((n) => new Channel(n)),
      open: (name: string) => {
        if (slot.writable.has(name)) return new Channel(name);
        active(slot).blocked.push(String(name).slice(0, 128));
        throw `AGORA_ERR_NOT_GRANTED: no write grant for ${String(name).slice(0, 128)}`;
      },
    },
    "agora:agent/timers": {
      after: (ms: number, tag: string) => {
        const ctx = active(slot);
        if (typeof tag !== "string" || tag.length === 0 || utf8.encode(tag).byteLength > MAX_TIMER_TAG_BYTES)
          throw `AGORA_ERR_TIMER_LIMIT: a timer tag is 1–${MAX_TIMER_TAG_BYTES} bytes`;
        if (!Number.isInteger(ms) || ms < 0 || ms > 0xffffffff)
          throw "AGORA_ERR_TIMER_LIMIT: a timer delay is a whole number of ms (u32)";
        const waiting = (t: string) => ctx.timerTags.get(t) ?? slot.timers.has(t);
        if (!waiting(tag)) {
          let count = 0;
          for (const t of new Set([...slot.timers, ...ctx.timerTags.keys()])) if (waiting(t)) count++;
          if (count >= slot.limits.maxTimers)
            throw `AGORA_ERR_TIMER_LIMIT: this agent already has ${slot.limits.maxTimers} timers waiting (limits.maxTimers)`;
        }
        ctx.timerTags.set(tag, true);
        ctx.timerOps.push({ op: "set", tag, ms });
      },
      cancel: (tag: string) => {
        const ctx = active(slot);
        if (typeof tag !== "string" || tag.length === 0) return;
        ctx.timerTags.set(tag, false);
        ctx.timerOps.push({ op: "cancel", tag });
      },
      now: () => BigInt(active(slot).now),
    },
    "agora:agent/state": {
      get: (key: string) => {
        const ctx = active(slot);
        if (ctx.staged.has(key)) return ctx.staged.get(key) ?? null;
        return slot.state.get(key) ?? null;
      },
      set: (key: string, value: string) => {
        const ctx = active(slot);
        if (key.length === 0 || utf8.encode(key).byteLength > slot.limits.maxStateKeyBytes)
          throw "AGORA_ERR_BAD_STATE: key length out of bounds";
        if (utf8.encode(value).byteLength > slot.limits.maxStateValueBytes)
          throw "AGORA_ERR_BAD_STATE: value too large";
        ctx.staged.set(key, value);
        ctx.ops.push({ op: "set", key, value });
      },
      delete: (key: string) => {
        const ctx = active(slot);
        ctx.staged.set(key, null);
        ctx.ops.push({ op: "delete", key });
      },
    },
  };
}

/**
 * Make the instance of `version`, or of every version. The current version's failure is the agent's
 * (it throws); a canary that cannot be instantiated is left without an instance, and each call routed
 * to it traps — so its rollout rolls it back, while the current version runs on.
 */
async function instantiate(agent: string, slot: AgentSlot, version?: number): Promise<void> {
  for (const [v, digest] of slot.digests.entries()) {
    if (version !== undefined && v !== version) continue;
    const component = components.get(digest);
    try {
      if (!component) throw new Error(`component ${digest} not loaded`);
      slot.instances[v] = await component.glue.instantiate((name) => component.modules[name]!, makeImports(slot));
    } catch (err) {
      slot.instances[v] = undefined;
      if (v === 0) throw err;
    }
  }
  agents.set(agent, slot);
}

function errorText(err: unknown): string {
  const payload = (err as { payload?: unknown })?.payload;
  if (typeof payload === "string") return payload;
  if (typeof err === "string") return err;
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * An error as `{ code, message }` for the host thread. A component's error result
 * (and what our imports throw into it) is text starting with an AGORA_ERR_ code;
 * anything else — a trap, an uncaught exception — gets `fallback`.
 */
function wireError(err: unknown, fallback: ErrorCode): WireError {
  const text = errorText(err);
  const m = /^(AGORA_ERR_[A-Z_]+):?\s*/.exec(text);
  return m && isErrorCode(m[1]) ? { code: m[1], message: text.slice(m[0].length) } : { code: fallback, message: text };
}

/**
 * Run a batch of one agent's calls in order until one fails or writes state or timers (the host
 * commits that before any later call may see it) or the agent is halted; the rest are not run.
 */
async function runBatch(batch: number, agent: string, calls: Call[]): Promise<CallResult[]> {
  const results: CallResult[] = [];
  const halt = agents.get(agent)?.halt;
  const halted = () => !!halt && Atomics.load(halt, 0) !== 0;
  for (const [i, c] of calls.entries()) {
    if ((results.length > 0 && !sendsOnly(results.at(-1)!)) || halted()) {
      results.push(NOT_RUN);
      continue;
    }
    // The deadline runs from here, not from the queue: the pool's watchdog reads this clock.
    clock[1] = Date.now();
    clock[2] = i;
    clock[0] = batch;
    results.push(await call(agent, c.env, c.now, c.timeout, c.version, halted));
  }
  clock[0] = 0;
  return results;
}

async function call(
  agent: string,
  env: ComponentEnvelope,
  now: number,
  timeout?: string,
  version = 0,
  /** True once the agent is halted: read again right before `handle` (instantiating a canary awaits). */
  halted: () => boolean = () => false,
): Promise<CallResult> {
  const slot = agents.get(agent);
  const instance = slot?.instances[version];
  const empty = { sends: [], state: [], blocked: [], micros: 0 };
  if (slot && !instance && version > 0) {
    // A canary with no instance (it could not be instantiated, or again after a trap): a trap of that version.
    await instantiate(agent, slot, version);
    if (!slot.instances[version])
      return {
        ok: false,
        trapped: true,
        error: { code: "AGORA_ERR_COMPONENT_LOAD", message: `version ${version} of ${agent} cannot be instantiated` },
        ...empty,
      };
  }
  if (!slot || !slot.instances[version])
    return {
      ok: false,
      error: { code: "AGORA_ERR_COMPONENT_LOAD", message: `agent ${agent} is not running` },
      ...empty,
    };
  if (halted()) return NOT_RUN;
  if (timeout !== undefined) slot.timers.delete(timeout); // fired: it waits no more (unless set again now)
  const ctx: CallContext = {
    sends: [],
    staged: new Map(),
    ops: [],
    blocked: [],
    timerTags: new Map(),
    timerOps: [],
    now,
  };
  slot.ctx = ctx;
  const started = performance.now();
  try {
    slot.instances[version]!.handle(env);
    for (const [k, v] of ctx.staged) {
      if (v === null) slot.state.delete(k);
      else slot.state.set(k, v);
    }
    for (const [tag, waiting] of ctx.timerTags) {
      if (waiting) slot.timers.add(tag);
      else slot.timers.delete(tag);
    }
    return {
      ok: true,
      sends: ctx.sends,
      state: ctx.ops,
      ...(ctx.timerOps.length > 0 ? { timers: ctx.timerOps } : {}),
      blocked: ctx.blocked,
      micros: Math.round((performance.now() - started) * 1000),
    };
  } catch (err) {
    // A deliberate error result starts with an AGORA_ERR_ code; anything else (a wasm
    // trap, an uncaught exception, out of memory) is a crash of the instance.
    const payload = (err as { payload?: unknown })?.payload;
    const trapped =
      err instanceof WebAssembly.RuntimeError || typeof payload !== "string" || !payload.startsWith("AGORA_ERR_");
    if (trapped) {
      // A trapped instance is poisoned: replace it (the other version's stays), keeping committed state.
      slot.instances[version] = undefined;
      await instantiate(agent, slot, version).catch(() => {});
    }
    return {
      ok: false,
      trapped,
      error: wireError(err, "AGORA_ERR_COMPONENT_TRAP"),
      sends: [],
      state: [],
      blocked: ctx.blocked,
      micros: Math.round((performance.now() - started) * 1000),
    };
  } finally {
    slot.ctx = undefined;
  }
}

parentPort!.on("message", async (msg: ToWorker) => {
  switch (msg.type) {
    case "load":
      try {
        const glue = (await import(pathToFileURL(msg.gluePath).href)) as Glue;
        components.set(msg.digest, { glue, modules: msg.modules });
        post({ type: "loaded", digest: msg.digest });
      } catch (err) {
        post({ type: "loaded", digest: msg.digest, error: wireError(err, "AGORA_ERR_COMPONENT_LOAD") });
      }
      break;
    case "spawn":
      try {
        const slot: AgentSlot = {
          digests: msg.digests,
          instances: [],
          writable: new Set(msg.writable),
          state: new Map(msg.state),
          timers: new Set(msg.timers),
          limits: msg.limits,
          halt: new Int32Array(msg.halt),
        };
        await instantiate(msg.agent, slot);
        post({ type: "spawned", agent: msg.agent });
      } catch (err) {
        post({ type: "spawned", agent: msg.agent, error: wireError(err, "AGORA_ERR_COMPONENT_LOAD") });
      }
      break;
    case "calls":
      post({ type: "results", batch: msg.batch, results: await runBatch(msg.batch, msg.agent, msg.calls) });
      break;
    case "clock":
      clock = new Float64Array(msg.clock);
      break;
    case "drop":
      agents.delete(msg.agent);
      break;
  }
});
