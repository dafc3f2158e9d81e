// Control envelopes: kill, revive, drain and undrain, signed by an operator
// identity and sent out of band (core NATS agora.ctl.<verb> + KV agora-control),
// never through a channel; and ControlState, the newest-wins rule every host and
// gateway applies to them.
import { canonicalize } from "./jcs.js";

export const CONTROL_VERBS = ["kill", "revive", "drain", "undrain"] as const;
export type ControlVerb = (typeof CONTROL_VERBS)[number];
/** Verbs that address a host (`host`) rather than an agent (`agent`). */
export const HOST_VERBS: ReadonlySet<ControlVerb> = new Set(["drain", "undrain"]);
/** `"*"` addresses every agent. */
export const ALL_AGENTS = "*";
/** Kills and revives kept per agent, to tell whether it was killed when a message was stored. */
export const CONTROL_HISTORY = 64;

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
export function controlKeyOf(c: ControlEnvelope): string {
  return HOST_VERBS.has(c.verb) ? hostControlKey(c.host!) : controlKey(c.agent!);
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
  /** The kills and revives seen per key, oldest first (the last CONTROL_HISTORY): who was killed when. */
  private readonly history = new Map<string, ControlEnvelope[]>();

  /** Keep `c` if it is the newest for its key; true when the state changed. */
  apply(c: ControlEnvelope | undefined): boolean {
    if (!c) return false;
    const key = controlKeyOf(c);
    if (!HOST_VERBS.has(c.verb)) this.remember(key, c);
    const current = this.controls.get(key);
    if (current && newer(current, c) === current) return false;
    this.controls.set(key, c);
    return true;
  }

  private remember(key: string, c: ControlEnvelope): void {
    const list = this.history.get(key) ?? [];
    if (list.some((x) => x.id === c.id)) return;
    let i = list.length;
    while (i > 0 && newer(list[i - 1], c) === list[i - 1]) i--;
    list.splice(i, 0, c);
    if (list.length > CONTROL_HISTORY) list.shift();
    this.history.set(key, list);
  }

  /**
   * The control that decided `agent`'s state at `atMs` (epoch ms): the newest
   * of its own and of "*" dated at or before then. Known as far as this state
   * saw the controls come (a process that starts later knows only the newest
   * of each key).
   */
  decidingAt(agent: string, atMs: number): ControlEnvelope | undefined {
    const before = (key: string) => {
      const list = this.history.get(key) ?? []; // oldest first
      let i = list.length;
      while (i > 0 && Date.parse(list[i - 1]!.ts) > atMs) i--;
      return list[i - 1];
    };
    return newer(before(controlKey(ALL_AGENTS)), before(controlKey(agent)));
  }

  /** Whether `agent` was killed at `atMs`. */
  killedAt(agent: string, atMs: number): boolean {
    return this.decidingAt(agent, atMs)?.verb === "kill";
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
    return this.controls.get(controlKeyOf(c))?.id === c.id;
  }
}
