// Canary rollouts, the pure parts: the conv hash every host and the recorder
// route by, the share parser, the rollback rule, and the deploy record's changes.
import { describe, expect, it } from "vitest";
import type { AgoraError } from "../../protocol/errors.js";
import type { DeployRecord } from "../../protocol/records.js";
import {
  convBucket,
  inCanary,
  nextDeploy,
  parseCanaryPercent,
  rollbackReason,
  type VersionTally,
} from "../../protocol/rollout.js";
import { Canary } from "../../host/runtime/canary.js";
import type { CallResult } from "../../host/workers/worker-protocol.js";

const tally = (calls: number, failures: number, traps = 0): VersionTally => ({
  calls,
  failures,
  traps,
  p50Ms: 0,
  p99Ms: 0,
});
const POLICY = { failureMargin: 0.1, minCalls: 20, maxTraps: 3 };
const at = new Date("2026-12-03T10:00:00Z");

describe("rollout", () => {
  it("rollout - the conv hash is stable, and a share picks close to that share of conversations", () => {
    // Fixed values: other clients (and the recorder) must compute the same buckets.
    expect(convBucket("")).toBe(2166136261 % 10_000);
    expect(convBucket("split-0")).toBe(convBucket("split-0"));
    const convs = Array.from({ length: 10_000 }, (_, i) => `conv-${i}`);
    for (const p of [1, 20, 50, 99]) {
      const share = convs.filter((c) => inCanary(c, p)).length / convs.length;
      expect(Math.abs(share - p / 100), `${p}%`).toBeLessThan(0.015);
    }
    // A conversation in a smaller share stays in every larger one: raising the share moves none back.
    expect(convs.filter((c) => inCanary(c, 10) && !inCanary(c, 20))).toEqual([]);
  });

  it("rollout - a share is strictly between 0% and 100%", () => {
    expect(parseCanaryPercent("20%")).toBe(20);
    expect(parseCanaryPercent("20")).toBe(20);
    expect(parseCanaryPercent("0.5%")).toBe(0.5);
    for (const bad of ["0", "0%", "100%", "150", "-5", "abc", "20%%", "", "1e1"])
      expect(parseCanaryPercent(bad), bad).toBeUndefined();
  });

  it("rollout - rolled back after maxTraps traps, or a failure rate beyond the margin once minCalls are in", () => {
    expect(rollbackReason(tally(3, 3, 3), tally(100, 0), POLICY)).toMatch(/trapped 3 times/);
    expect(rollbackReason(tally(2, 2, 2), tally(100, 0), POLICY)).toBeUndefined();
    // Too few calls to judge the rate.
    expect(rollbackReason(tally(19, 19), tally(100, 0), POLICY)).toBeUndefined();
    // 25% against 10%: beyond a 10-point margin.
    expect(rollbackReason(tally(20, 5), tally(100, 10), POLICY)).toMatch(/failed 25\.0% of 20 .* 10\.0% of 100/);
    // 15% against 10%: within it.
    expect(rollbackReason(tally(20, 3), tally(100, 10), POLICY)).toBeUndefined();
  });

  it("rollout - the runtime's tally: error results count as failures, retries count for no one, a stopped canary gets nothing", () => {
    const c = new Canary(
      { component: "v@1.0.0", digest: "sha256:a" },
      { component: "v@1.1.0", digest: "sha256:b" },
      50,
      at.toISOString(),
    );
    const result = (r: Partial<CallResult>): CallResult => ({
      ok: true,
      sends: [],
      state: [],
      blocked: [],
      micros: 0,
      ...r,
    });
    const inside = Array.from({ length: 100 }, (_, i) => `c${i}`).find((s) => inCanary(s, 50))!;
    expect(c.versionOf(inside)).toBe(1);
    for (let i = 0; i < 20; i++) c.record(1, result(i < 5 ? { ok: false } : {}), 2);
    c.record(1, result({ ok: false, retry: true }), 1);
    for (let i = 0; i < 20; i++) c.record(0, result({}), 1);
    expect(c.verdict(POLICY)).toMatch(/failed 25\.0% of 20/);
    c.stop("by the test");
    expect(c.versionOf(inside)).toBe(0);
    expect(c.verdict(POLICY)).toBeUndefined();
    const r = c.report("a1", "h1");
    expect(r).toMatchObject({
      canary: { calls: 20, failures: 5, traps: 0, p50Ms: 2 },
      rolledBack: { reason: "by the test" },
    });
  });

  it("rollout - the deploy record: deploy, canary, promote, rollback, and a host's rollback of a canary since replaced", () => {
    const next = (d: DeployRecord | undefined, change: Parameters<typeof nextDeploy>[3]) =>
      nextDeploy("a1", d, "voter@1.0.0", change, "admin", at);
    const deployed = next(undefined, { op: "deploy", component: "voter@1.1.0" })!;
    expect(deployed).toEqual({
      agent: "a1",
      component: "voter@1.1.0",
      previous: "voter@1.0.0",
      by: "admin",
      ts: at.toISOString(),
    });
    const canary = next(deployed, { op: "canary", component: "voter@1.2.0", percent: 20 })!;
    expect(canary).toMatchObject({
      component: "voter@1.1.0",
      previous: "voter@1.0.0",
      canary: { component: "voter@1.2.0", percent: 20 },
    });
    expect(next(canary, { op: "promote" })).toMatchObject({ component: "voter@1.2.0", previous: "voter@1.1.0" });
    expect(next(canary, { op: "promote" })!.canary).toBeUndefined();
    const failed = next(canary, {
      op: "canary_failed",
      component: "voter@1.2.0",
      since: canary.ts,
      reason: "trapped",
    })!;
    expect(failed).toMatchObject({
      component: "voter@1.1.0",
      rolledBack: { component: "voter@1.2.0", reason: "trapped" },
    });
    expect(failed.canary).toBeUndefined();
    // A host that saw an older canary fail does not undo the operator's newer one.
    expect(
      next(canary, { op: "canary_failed", component: "voter@1.1.9", since: canary.ts, reason: "old" }),
    ).toBeUndefined();
    // Nor the same canary deployed again since (a new rollout, a new record).
    const again = { ...canary, ts: "2026-12-03T10:05:00.000Z" };
    expect(
      next(again, { op: "canary_failed", component: "voter@1.2.0", since: canary.ts, reason: "old" }),
    ).toBeUndefined();
    // By hand: without a canary, back to the previous version; then nothing is left.
    const back = next(deployed, { op: "rollback", reason: "bad" })!;
    expect(back).toMatchObject({ component: "voter@1.0.0", rolledBack: { component: "voter@1.1.0" } });
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as AgoraError).code;
      }
      return "none";
    };
    expect(code(() => next(back, { op: "rollback", reason: "again" }))).toBe("AGORA_ERR_NO_ROLLOUT");
    // A rollback over many agents ends canaries only: one without a canary keeps its version.
    expect(code(() => next(deployed, { op: "rollback", reason: "all", canaryOnly: true }))).toBe(
      "AGORA_ERR_NO_ROLLOUT",
    );
    expect(code(() => next(deployed, { op: "promote" }))).toBe("AGORA_ERR_NO_ROLLOUT");
    expect(code(() => next(deployed, { op: "canary", component: "voter@1.1.0", percent: 5 }))).toBe("AGORA_ERR_USAGE");
    // A canary needs a registry version to run beside: not a file.
    expect(
      code(() =>
        nextDeploy("a1", undefined, "/x/voter.wasm", { op: "canary", component: "voter@1.2.0", percent: 5 }, "admin"),
      ),
    ).toBe("AGORA_ERR_USAGE");
  });
});
