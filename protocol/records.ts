// The records agora keeps in KV beside the stream, and how each is read back.
// A reader never trusts a stored value: parse* returns undefined for anything
// that is not a well-formed record, so a bad entry is refused, never a crash.
import type { Act, Envelope } from "./envelope.js";
import { ID_RE, isName } from "./names.js";
import { parseComponentRef } from "./components.js";
import { parseCanaryPercent, type VersionTally } from "./rollout.js";

/** What hosts report of a hosted agent (bucket agora-agents, key = agent name). */
export type ReportedStatus = "running" | "failed" | "stopped";
/** What operators see: the reported status, unless the control plane killed it. */
export type AgentStatus = ReportedStatus | "killed" | "unknown";

export interface AgentStatusRecord {
  agent: string;
  status: ReportedStatus;
  /** The host that reported it. */
  host: string;
  since: string;
  reason?: string;
}

/** Value of `agent.<name>` in agora-leases: who holds an agent's placement lease. */
export interface LeaseRecord {
  host: string;
  /** The host process (a restarted host adopts the leases of its previous incarnation). */
  instance: string;
  since: string;
}

/** Value of `host.<name>` in agora-leases: a live host, what it may run, and whether it is drained. */
export interface HostRecord {
  host: string;
  instance: string;
  draining: boolean;
  eligible: string[];
  agents: number;
}

/** One state write of a component call. */
export type StateOp = { op: "set"; key: string; value: string } | { op: "delete"; key: string };

/** A timer asked for (`timers.after`) or cancelled during one call, as the worker reports it. */
export type TimerOp = { op: "set"; tag: string; ms: number } | { op: "cancel"; tag: string };

/** Value of `<agent>.<base64url(tag)>` in agora-timers: a timer waiting to fire. */
export interface TimerRecord {
  agent: string;
  tag: string;
  /** The timer's id: its Nats-Msg-Id when it fires and the id of the timeout the agent handles. */
  id: string;
  /** When it fires, ms since the epoch (host time). */
  due: number;
  /** The message whose handling set it: the timeout's `re`, `channel`, `conv` and `hop` are its. */
  set: string;
  channel: string;
  conv?: string;
  hop: number;
}

/**
 * Value of `<conv>` in agora-convs: the conversation was cancelled — by its initiator or an
 * operator, as the recorder (the one reader that sees every opening) decided. Every reader drops
 * the conversation's later acts; the cancel itself is delivered.
 */
export interface CancelRecord {
  conv: string;
  /** The cancel message's id. */
  id: string;
  /** Who sent it. */
  by: string;
  /** The conversation's initiator, as the recorder saw it ("" when it had forgotten it). */
  initiator: string;
  /** The cancel's stream sequence. */
  seq: number;
  ts: string;
}

/** Value of `<agent>` in agora-deploys: the registry component an agent runs now, instead of its config's. */
export interface DeployRecord {
  agent: string;
  /** `name@version` in the registry (hosts still check its publisher's signature). */
  component: string;
  /** A second version handling a share of the conversations (`agora deploy --canary`). */
  canary?: CanaryDeploy;
  /** What the agent ran before `component`: `agora rollback` returns to it. */
  previous?: string;
  /** The last canary rolled back, and why (by hand or by the host that saw it fail). */
  rolledBack?: { component: string; reason: string; at: string };
  /** Who wrote the record: the admin, the gateway's identity, or the host that rolled a canary back. */
  by: string;
  ts: string;
}

export interface CanaryDeploy {
  component: string;
  /** The share of conversations it handles, 0 < percent < 100 (protocol/rollout.ts). */
  percent: number;
}

/** One version's tally in a rollout record. */
export interface VersionReport extends VersionTally {
  component: string;
  /** `sha256:<hex>` of its bytes. */
  digest: string;
}

/**
 * Value of `<agent>` in agora-rollouts: how a canary rollout goes, as the host running the agent
 * counts it (since the rollout began there); kept after a rollback, with why.
 */
export interface RolloutRecord {
  agent: string;
  host: string;
  percent: number;
  current: VersionReport;
  canary: VersionReport;
  since: string;
  updated: string;
  rolledBack?: { reason: string; at: string };
}

/** A timer write of a commit: set (the record) or cancel (by tag). */
export type TimerCommit = { op: "set"; timer: TimerRecord } | { op: "cancel"; tag: string };

/** The effects of one successful call as written to the write-ahead log `wal.<agent>`. */
export interface CommitRecord {
  /**
   * 2: the WAL entry is deleted once applied (its marker was written by the claim). Absent in entries
   * written before: applied when the input's marker is final.
   */
  wal?: 2;
  /** The input envelope's id. */
  id: string;
  /** The input's stream sequence. */
  seq: number;
  /** Signed envelopes to publish. */
  envelopes: Envelope[];
  state: StateOp[];
  /** Timers set or cancelled (absent when none). */
  timers?: TimerCommit[];
}

/** A send a component queued during one call (before the host stamps and signs it). */
export interface Send {
  channel: string;
  act: Act;
  body: string;
  re: string | null;
}

const REPORTED: ReadonlySet<string> = new Set(["running", "failed", "stopped"]);
const isString = (v: unknown): v is string => typeof v === "string";

/** JSON of a stored value, or undefined. */
export function parseJson(data: Uint8Array | string): unknown {
  try {
    return JSON.parse(typeof data === "string" ? data : Buffer.from(data).toString("utf8"));
  } catch {
    return undefined;
  }
}

function object(v: unknown): Record<string, unknown> | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

export function parseAgentStatus(data: Uint8Array | string): AgentStatusRecord | undefined {
  const r = object(parseJson(data));
  if (!r || !isName(r.agent) || !REPORTED.has(r.status as string) || !isName(r.host) || !isString(r.since))
    return undefined;
  if (r.reason !== undefined && !isString(r.reason)) return undefined;
  return r as unknown as AgentStatusRecord;
}

export function parseLease(data: Uint8Array | string): LeaseRecord | undefined {
  const r = object(parseJson(data));
  return r && isName(r.host) && isString(r.instance) && isString(r.since) ? (r as unknown as LeaseRecord) : undefined;
}

export function parseHostRecord(data: Uint8Array | string): HostRecord | undefined {
  const r = object(parseJson(data));
  if (!r || !isName(r.host) || !isString(r.instance) || typeof r.draining !== "boolean" || typeof r.agents !== "number")
    return undefined;
  return Array.isArray(r.eligible) && r.eligible.every(isName) ? (r as unknown as HostRecord) : undefined;
}

/** The status an operator sees of a hosted agent: one rule for the console, the API and `agora status`. */
export interface AgentStatusView {
  status: AgentStatus;
  host?: string;
  since?: string;
  reason?: string;
}

/**
 * A kill outranks whatever a host last reported (the host may be gone); without
 * a report the status is unknown. `killedSince` is the deciding control's time.
 */
export function statusView(
  record: AgentStatusRecord | undefined,
  killed: { since?: string } | undefined,
): AgentStatusView {
  if (killed) return { status: "killed", host: record?.host, since: killed.since, reason: record?.reason };
  if (!record) return { status: "unknown" };
  return { status: record.status, host: record.host, since: record.since, reason: record.reason };
}

const isRef = (v: unknown): v is string => isString(v) && parseComponentRef(v) !== undefined;
const isPercent = (v: unknown): v is number => typeof v === "number" && parseCanaryPercent(String(v)) === v;

/** A deploy record read back from agora-deploys, or undefined when it is not one. */
export function parseDeploy(data: Uint8Array | string): DeployRecord | undefined {
  const r = object(parseJson(data));
  if (!r || !isName(r.agent) || !isRef(r.component) || !isString(r.by) || !isString(r.ts)) return undefined;
  if (r.previous !== undefined && !isRef(r.previous)) return undefined;
  if (r.canary !== undefined) {
    const c = object(r.canary);
    if (!c || !isRef(c.component) || !isPercent(c.percent)) return undefined;
  }
  if (r.rolledBack !== undefined) {
    const b = object(r.rolledBack);
    if (!b || !isRef(b.component) || !isString(b.reason) || !isString(b.at)) return undefined;
  }
  return r as unknown as DeployRecord;
}

function versionReport(v: unknown): boolean {
  const r = object(v);
  const count = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  const ms = (x: unknown) => typeof x === "number" && x >= 0;
  return (
    !!r &&
    isString(r.component) &&
    isString(r.digest) &&
    count(r.calls) &&
    count(r.failures) &&
    count(r.traps) &&
    ms(r.p50Ms) &&
    ms(r.p99Ms)
  );
}

/** A rollout record read back from agora-rollouts, or undefined when it is not one. */
export function parseRollout(data: Uint8Array | string): RolloutRecord | undefined {
  const r = object(parseJson(data));
  if (
    !r ||
    !isName(r.agent) ||
    !isName(r.host) ||
    !isPercent(r.percent) ||
    !versionReport(r.current) ||
    !versionReport(r.canary) ||
    !isString(r.since) ||
    !isString(r.updated)
  )
    return undefined;
  if (r.rolledBack !== undefined) {
    const b = object(r.rolledBack);
    if (!b || !isString(b.reason) || !isString(b.at)) return undefined;
  }
  return r as unknown as RolloutRecord;
}

/** A cancel record read back from agora-convs, or undefined when it is not one. */
export function parseCancel(data: Uint8Array | string): CancelRecord | undefined {
  const r = object(parseJson(data));
  if (
    !r ||
    !isString(r.conv) ||
    !ID_RE.test(r.conv) ||
    !isString(r.id) ||
    !ID_RE.test(r.id) ||
    !isName(r.by) ||
    !isString(r.initiator) ||
    !Number.isSafeInteger(r.seq) ||
    !isString(r.ts)
  )
    return undefined;
  return r as unknown as CancelRecord;
}

/** A timer record read back from agora-timers, or undefined when it is not one. */
export function parseTimer(data: Uint8Array | string): TimerRecord | undefined {
  return timerRecord(parseJson(data));
}

/** `v` if it is a well-formed timer record (e.g. inside a write-ahead log entry), else undefined. */
export function timerRecord(v: unknown): TimerRecord | undefined {
  const r = object(v);
  if (
    !r ||
    !isName(r.agent) ||
    !isString(r.tag) ||
    r.tag.length === 0 ||
    !isString(r.id) ||
    !ID_RE.test(r.id) ||
    !Number.isSafeInteger(r.due) ||
    !isString(r.set) ||
    !isString(r.channel) ||
    !Number.isInteger(r.hop) ||
    (r.conv !== undefined && !isString(r.conv))
  )
    return undefined;
  return r as unknown as TimerRecord;
}
