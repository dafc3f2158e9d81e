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

  /** Keep `c` if it is the newest for its key; true when the state changed. */
  apply(c: ControlEnvelope | undefined): boolean {
    if (!c) return false;
    const key = controlKeyOf(c);
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
    return this.controls.get(controlKeyOf(c))?.id === c.id;
  }
}
