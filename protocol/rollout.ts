// Canary rollouts: which conversations a canary version handles (a stable hash of
// the conv, so every host and the recorder agree without asking each other), the
// per-version tally a host keeps, and the rule that rolls a failing canary back.
// Pure: the host routes and counts, the recorder attributes acts, the CLI prints.
import { parseComponentRef } from "./components.js";
import { AgoraError } from "./errors.js";
import type { CanaryDeploy, DeployRecord } from "./records.js";

const utf8 = new TextEncoder();

/** A share of conversations as a percentage, 0 < p < 100, to a hundredth. */
export const CANARY_PERCENT_RE = /^(?:[1-9]\d?|0)(?:\.\d{1,2})?%?$/;

/** `"20%"` or `"20"` → 20; undefined unless strictly between 0 and 100. */
export function parseCanaryPercent(s: string): number | undefined {
  if (!CANARY_PERCENT_RE.test(s)) return undefined;
  const p = Number(s.replace(/%$/, ""));
  return p > 0 && p < 100 ? p : undefined;
}

/**
 * Where `conv` falls in [0, 10000): FNV-1a (32-bit) over its UTF-8 bytes, modulo 10,000.
 * Part of the contract between hosts and the recorder: change it and acts are attributed
 * to the wrong version.
 */
export function convBucket(conv: string): number {
  let h = 0x811c9dc5;
  for (const b of utf8.encode(conv)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % 10_000;
}

/** Whether the canary at `percent` handles conversation `conv` (every act of it, on every host). */
export function inCanary(conv: string, percent: number): boolean {
  return convBucket(conv) < Math.round(percent * 100);
}

/** When a canary is rolled back on its own (`components.rollout` in the config). */
export interface RolloutPolicy {
  /** The canary's failure rate may exceed the current version's by this much (0.1 = 10 points)… */
  failureMargin: number;
  /** …judged once the canary has handled this many messages. */
  minCalls: number;
  /** A canary that traps this many times is rolled back whatever the rates. */
  maxTraps: number;
}

/** What one version did since the rollout began on this host. */
export interface VersionTally {
  /** Messages handed to it. */
  calls: number;
  /** Calls that returned an error or trapped. */
  failures: number;
  /** Of which traps (a wasm trap, an uncaught exception, the deadline). */
  traps: number;
  /** Call latency in ms (the call on its worker, queueing included). */
  p50Ms: number;
  p99Ms: number;
}

/** What the rollback rule judges by. */
export type VersionCounts = Pick<VersionTally, "calls" | "failures" | "traps">;

/** Why the canary must be rolled back now, or undefined while it may go on. */
export function rollbackReason(
  canary: VersionCounts,
  current: VersionCounts,
  policy: RolloutPolicy,
): string | undefined {
  if (canary.traps >= policy.maxTraps)
    return `the canary trapped ${canary.traps} times (components.rollout.maxTraps: ${policy.maxTraps})`;
  if (canary.calls < policy.minCalls) return undefined;
  const rate = (t: VersionCounts) => (t.calls === 0 ? 0 : t.failures / t.calls);
  const [c, s] = [rate(canary), rate(current)];
  if (c > s + policy.failureMargin)
    return `the canary failed ${pct(c)} of ${canary.calls} messages against ${pct(s)} of ${current.calls} for the current version (components.rollout.failureMargin: ${pct(policy.failureMargin)})`;
  return undefined;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** A change to an agent's deploy record (agora deploy, --canary, --promote, agora rollback; a host's rollback). */
export type DeployChange =
  | { op: "deploy"; component: string }
  | { op: "canary"; component: string; percent: number }
  | { op: "promote" }
  /** By hand: end the canary, or (without one, unless `canaryOnly`) return to the previous version. */
  | { op: "rollback"; reason: string; canaryOnly?: boolean }
  /**
   * By the host that saw canary `component` fail, in the rollout the deploy record of time `since` began:
   * ends it only if that record still stands (a newer deploy by an operator is never undone).
   */
  | { op: "canary_failed"; component: string; since: string; reason: string };

/**
 * The deploy record after `change`, from the agent's record now (`current`, none when it runs what its
 * config names: `configured`). Throws AGORA_ERR_NO_ROLLOUT when there is nothing to promote or roll back,
 * AGORA_ERR_USAGE for a canary beside a component that is not in the registry; undefined: nothing to write.
 */
export function nextDeploy(
  agent: string,
  current: DeployRecord | undefined,
  configured: string,
  change: DeployChange,
  by: string,
  now: Date = new Date(),
): DeployRecord | undefined {
  const ts = now.toISOString();
  const running = current?.component ?? (parseComponentRef(configured) ? configured : undefined);
  const previous = (p: string | undefined) => (p !== undefined ? { previous: p } : {});
  const endCanary = (c: CanaryDeploy, reason: string): DeployRecord => ({
    agent,
    component: current!.component,
    ...previous(current!.previous),
    rolledBack: { component: c.component, reason, at: ts },
    by,
    ts,
  });
  switch (change.op) {
    case "deploy":
      return {
        agent,
        component: change.component,
        ...previous(running !== undefined && running !== change.component ? running : current?.previous),
        by,
        ts,
      };
    case "canary":
      if (running === undefined)
        throw new AgoraError(
          "AGORA_ERR_USAGE",
          `agent ${agent} runs ${configured}, a file: a canary runs beside a registry version — deploy one first (agora deploy <name@version>)`,
        );
      if (running === change.component)
        throw new AgoraError("AGORA_ERR_USAGE", `agent ${agent} runs ${running} already: a canary is another version`);
      return {
        agent,
        component: running,
        ...previous(current?.previous),
        canary: { component: change.component, percent: change.percent },
        by,
        ts,
      };
    case "promote":
      if (!current?.canary) throw new AgoraError("AGORA_ERR_NO_ROLLOUT", `agent ${agent} has no canary to promote`);
      return { agent, component: current.canary.component, previous: current.component, by, ts };
    case "rollback":
      if (current?.canary) return endCanary(current.canary, change.reason);
      if (change.canaryOnly) throw new AgoraError("AGORA_ERR_NO_ROLLOUT", `agent ${agent} has no canary`);
      if (current?.previous === undefined)
        throw new AgoraError(
          "AGORA_ERR_NO_ROLLOUT",
          `agent ${agent} has no canary and no previous version to roll back to`,
        );
      return {
        agent,
        component: current.previous,
        rolledBack: { component: current.component, reason: change.reason, at: ts },
        by,
        ts,
      };
    case "canary_failed":
      return current?.canary?.component === change.component && current.ts === change.since
        ? endCanary(current.canary, change.reason)
        : undefined;
  }
}
