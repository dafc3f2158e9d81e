// Canary: one agent's rollout on this host — which version a conversation goes
// to, what each version did (calls, failures, traps, latency), and whether the
// canary has failed by the config's rule. The runtime asks it before every call
// and tells it every result; stopped, it sends everything to the current version.
import { inCanary, rollbackReason, type RolloutPolicy, type VersionTally } from "../../protocol/rollout.js";
import type { RolloutRecord, VersionReport } from "../../protocol/records.js";
import type { CallResult } from "../workers/worker-protocol.js";
import type { HostEventOf } from "../../protocol/events.js";

/** A version of a rollout: what the deploy record names, and its digest. */
export interface RolloutVersion {
  component: string;
  digest: string;
}

/** The version index of the current one and of the canary (the worker pool's order). */
export const CURRENT = 0;
export const CANARY = 1;

/** Latencies kept per version for the percentiles (the most recent). */
const LATENCY_WINDOW = 1024;

class Tally {
  calls = 0;
  failures = 0;
  traps = 0;
  private readonly latencies: number[] = [];
  private next = 0;

  add(result: CallResult, ms: number): void {
    this.calls++;
    if (!result.ok) this.failures++;
    if (result.trapped) this.traps++;
    if (this.latencies.length < LATENCY_WINDOW) this.latencies.push(ms);
    else this.latencies[this.next] = ms;
    this.next = (this.next + 1) % LATENCY_WINDOW;
  }

  snapshot(): VersionTally {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number) =>
      sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    const round = (x: number) => Math.round(x * 100) / 100;
    return {
      calls: this.calls,
      failures: this.failures,
      traps: this.traps,
      p50Ms: round(at(0.5)),
      p99Ms: round(at(0.99)),
    };
  }
}

/** Both versions' counts as a canary-rolled-back event carries them (flat). */
export function tallies(
  canary?: VersionTally,
  current?: VersionTally,
): Pick<HostEventOf<"canary_rolled_back">, "calls" | "failures" | "traps" | "currentCalls" | "currentFailures"> {
  return {
    calls: canary?.calls ?? 0,
    failures: canary?.failures ?? 0,
    traps: canary?.traps ?? 0,
    currentCalls: current?.calls ?? 0,
    currentFailures: current?.failures ?? 0,
  };
}

export class Canary {
  readonly percent: number;
  readonly current: RolloutVersion;
  readonly canary: RolloutVersion;
  readonly since = new Date().toISOString();
  private readonly tallies = [new Tally(), new Tally()] as const;
  private stopped?: { reason: string; at: string };
  /** Something changed since the last report(). */
  dirty = true;

  /** `ts` of the deploy record that began this rollout: a rollback changes that record only. */
  readonly deployedAt: string;

  constructor(current: RolloutVersion, canary: RolloutVersion, percent: number, deployedAt: string) {
    this.current = current;
    this.canary = canary;
    this.percent = percent;
    this.deployedAt = deployedAt;
  }

  /** The version conversation `conv` goes to: the canary's share by the stable hash, until it is stopped. */
  versionOf(conv: string): number {
    return !this.stopped && inCanary(conv, this.percent) ? CANARY : CURRENT;
  }

  /**
   * Count a call's result. A retry (collateral of another agent's worker restart) and a call that found the
   * agent with no instance at all (its state unreadable, say) are no version's doing, and not counted.
   */
  record(version: number, result: CallResult, ms: number): void {
    if (result.retry || result.unplaced) return;
    this.tallies[version === CANARY ? 1 : 0].add(result, ms);
    this.dirty = true;
  }

  /** Why the canary must stop now, by `policy`; undefined while it may go on (or once stopped). */
  verdict(policy: RolloutPolicy): string | undefined {
    // Counts only (no percentiles to sort): this runs after every canary call.
    return this.stopped ? undefined : rollbackReason(this.tallies[1], this.tallies[0], policy);
  }

  /** Stop routing to the canary: every conversation goes to the current version from now on. */
  stop(reason: string): { canary: VersionTally; current: VersionTally; at: string } {
    this.stopped ??= { reason, at: new Date().toISOString() };
    this.dirty = true;
    return { canary: this.tallies[1].snapshot(), current: this.tallies[0].snapshot(), at: this.stopped.at };
  }

  get rolledBack(): boolean {
    return this.stopped !== undefined;
  }

  /** The record of this rollout for agora-rollouts. */
  report(agent: string, host: string): RolloutRecord {
    this.dirty = false;
    const version = (v: RolloutVersion, t: Tally): VersionReport => ({ ...v, ...t.snapshot() });
    return {
      agent,
      host,
      percent: this.percent,
      current: version(this.current, this.tallies[0]),
      canary: version(this.canary, this.tallies[1]),
      since: this.since,
      updated: new Date().toISOString(),
      ...(this.stopped ? { rolledBack: this.stopped } : {}),
    };
  }
}
