// Control plane: kill, revive and drain travel out of band — signed control
// envelopes on core NATS `agora.ctl.<verb>`, with the state kept in KV
// `agora-control` — never through a channel. Hosts follow both and acknowledge
// on the request's inbox. kill/revive address an agent (or "*"); drain/undrain a host.
import type { KeyObject } from "node:crypto";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { KvWatchInclude, type KV } from "@nats-io/kv";
import { AgoraError } from "../protocol/errors.js";
import { randomId } from "../protocol/ids.js";
import { canonicalize } from "../protocol/jcs.js";
import type { KeyRegistry } from "../trust/key-registry.js";
import { isName } from "../protocol/names.js";
import { signBytes, verifyBytes } from "../trust/signing.js";

export const CONTROL_SUBJECT_PREFIX = "agora.ctl.";
export const CONTROL_VERBS = ["kill", "revive", "drain", "undrain"] as const;
export type ControlVerb = (typeof CONTROL_VERBS)[number];
/** Verbs that address a host (`host`) rather than an agent (`agent`). */
export const HOST_VERBS: ReadonlySet<ControlVerb> = new Set(["drain", "undrain"]);
/** `"*"` addresses every agent. */
export const ALL_AGENTS = "*";

/** A signed control envelope. */
export interface ControlEnvelope {
  v: 1;
  id: string;
  verb: ControlVerb;
  /** kill / revive: the agent, or "*". */
  agent?: string;
  /** drain / undrain: the host. */
  host?: string;
  by: string;
  ts: string;
  sig: string;
}

export function controlSigningInput(c: Omit<ControlEnvelope, "sig"> | ControlEnvelope): Buffer {
  const { sig: _sig, ...unsigned } = c as ControlEnvelope;
  return Buffer.from(`agora-control-v1\n${canonicalize(unsigned)}`, "utf8");
}

/** KV key holding the latest control of `agent` (`all` for `*`). */
export function controlKey(agent: string): string {
  return agent === ALL_AGENTS ? "all" : `agent.${agent}`;
}

/** KV key holding the latest drain/undrain of `host`. */
export function hostControlKey(host: string): string {
  return `host.${host}`;
}

/** The KV key a control is kept under. */
function keyOf(c: ControlEnvelope): string {
  return HOST_VERBS.has(c.verb) ? hostControlKey(c.host!) : controlKey(c.agent!);
}

/** Sign a control: `target` is the agent (or "*") for kill/revive, the host for drain/undrain. */
export function makeControl(verb: ControlVerb, target: string, by: { name: string; key: KeyObject }): ControlEnvelope {
  const forHost = HOST_VERBS.has(verb);
  if (!isName(target) && (forHost || target !== ALL_AGENTS)) {
    throw new AgoraError("AGORA_ERR_BAD_NAME", `${forHost ? "host" : "agent"} ${JSON.stringify(target)} is not a valid name${forHost ? "" : ' (or "*")'}`);
  }
  const unsigned = { v: 1 as const, id: randomId(), verb, ...(forHost ? { host: target } : { agent: target }), by: by.name, ts: new Date().toISOString() };
  return { ...unsigned, sig: signBytes(by.key, controlSigningInput(unsigned)) };
}

/** Parse and verify a control envelope: signed by one of `controllers`, whose key the registry knows. */
export function verifyControl(data: Uint8Array, keys: KeyRegistry, controllers: readonly string[]): ControlEnvelope | undefined {
  let c: ControlEnvelope;
  try {
    c = JSON.parse(Buffer.from(data).toString("utf8")) as ControlEnvelope;
  } catch {
    return undefined;
  }
  if (c?.v !== 1 || !CONTROL_VERBS.includes(c.verb) || typeof c.sig !== "string" || typeof c.id !== "string") return undefined;
  if (HOST_VERBS.has(c.verb) ? !isName(c.host) || c.agent !== undefined : (c.agent !== ALL_AGENTS && !isName(c.agent)) || c.host !== undefined) return undefined;
  if (!controllers.includes(c.by)) return undefined;
  const key = keys.get(c.by);
  if (!key || !verifyBytes(key, controlSigningInput(c), c.sig)) return undefined;
  return c;
}

/** Publish a control: record it in KV (survives restarts), then tell every host and wait briefly for their acks. */
export async function issueControl(nc: NatsConnection, kv: KV, control: ControlEnvelope, options: { waitMs?: number } = {}): Promise<{ hosts: string[] }> {
  const data = JSON.stringify(control);
  await kv.put(keyOf(control), data);
  const hosts: string[] = [];
  try {
    const replies = await nc.requestMany(`${CONTROL_SUBJECT_PREFIX}${control.verb}`, data, {
      strategy: "stall",
      stall: 30,
      maxWait: options.waitMs ?? 300,
    });
    for await (const r of replies) hosts.push(r.string());
  } catch {
    /* no host listening: the KV record still applies when they start */
  }
  return { hosts };
}

function newer(a: ControlEnvelope | undefined, b: ControlEnvelope | undefined): ControlEnvelope | undefined {
  if (!a) return b;
  if (!b) return a;
  return a.ts > b.ts || (a.ts === b.ts && a.id > b.id) ? a : b;
}

/**
 * The kill state from signed controls. The newest control addressing an agent
 * — its own or one for "*" — decides: `revive *` lifts earlier kills of single
 * agents, and reviving one agent after `kill *` brings back just that one.
 * Order-independent, so hosts and gateways that learn controls in different
 * orders agree.
 */
export class ControlState {
  readonly controls = new Map<string, ControlEnvelope>();

  /** Keep `c` if it is the newest for its key; true when the state changed. */
  apply(c: ControlEnvelope | undefined): boolean {
    if (!c) return false;
    const key = keyOf(c);
    const current = this.controls.get(key);
    if (current && newer(current, c) === current) return false;
    this.controls.set(key, c);
    return true;
  }

  killed(agent: string): boolean {
    return newer(this.controls.get(controlKey(ALL_AGENTS)), this.controls.get(controlKey(agent)))?.verb === "kill";
  }

  /** The control that decides `agent`'s state. */
  deciding(agent: string): ControlEnvelope | undefined {
    return newer(this.controls.get(controlKey(ALL_AGENTS)), this.controls.get(controlKey(agent)));
  }

  /** Whether `host` is drained: its newest drain/undrain is a drain. */
  draining(host: string): boolean {
    return this.controls.get(hostControlKey(host))?.verb === "drain";
  }

  has(c: ControlEnvelope): boolean {
    return this.controls.get(keyOf(c))?.id === c.id;
  }
}

/**
 * Follows the control plane for a host: KV state at start (so a killed agent
 * stays killed across restarts), then core-NATS controls (fast path) and KV
 * updates (catch-up after a reconnect). `onChange` runs for every applied control.
 */
export class ControlFollower {
  readonly state = new ControlState();
  private sub?: Subscription;
  private stopWatch?: () => void;

  constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly keys: KeyRegistry,
    private readonly controllers: readonly string[],
    private readonly hostName: string,
    private readonly onChange: (c: ControlEnvelope) => void,
  ) {}

  private apply(c: ControlEnvelope | undefined): boolean {
    if (!this.state.apply(c)) return false;
    this.onChange(c!);
    return true;
  }

  async start(): Promise<void> {
    for await (const k of await this.kv.keys()) {
      const e = await this.kv.get(k);
      if (e && e.operation === "PUT") this.apply(verifyControl(e.value, this.keys, this.controllers));
    }
    this.sub = this.nc.subscribe(`${CONTROL_SUBJECT_PREFIX}>`, {
      callback: (err, msg) => {
        if (err) return;
        const c = verifyControl(msg.data, this.keys, this.controllers);
        if (this.apply(c) || (c && this.state.has(c))) msg.respond(this.hostName);
      },
    });
    const watcher = await this.kv.watch({ include: KvWatchInclude.UpdatesOnly });
    this.stopWatch = () => watcher.stop();
    void (async () => {
      for await (const e of watcher) if (e.operation === "PUT") this.apply(verifyControl(e.value, this.keys, this.controllers));
    })();
  }

  killed(agent: string): boolean {
    return this.state.killed(agent);
  }

  draining(host: string): boolean {
    return this.state.draining(host);
  }

  close(): void {
    this.sub?.unsubscribe();
    this.stopWatch?.();
  }
}
