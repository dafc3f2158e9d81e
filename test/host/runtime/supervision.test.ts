// Supervision as state: restarts with backoff, failed after too many, dead letters after maxDeliver — no server.
import { describe, expect, it } from "vitest";
import { MAX_BACKOFF_MS, Supervision } from "../../../host/runtime/supervision.js";

const limits = { maxDeliver: 3, maxRestarts: 2, restartWindowMs: 10_000, restartBackoffMs: 100 };

describe("supervision - state", () => {
  it("supervision - a trap holds the agent for a backoff that doubles; too many in the window fail it", () => {
    const s = new Supervision(limits);
    expect(s.trapped(1000, "AGORA_ERR_COMPONENT_TRAP")).toEqual({ failed: false, holdUntil: 1100 });
    expect(s.held(1050)).toBe(true);
    expect(s.held(1100)).toBe(false);
    expect(s.trapped(2000, "AGORA_ERR_COMPONENT_TRAP")).toEqual({ failed: false, holdUntil: 2200 });
    const third = s.trapped(3000, "AGORA_ERR_DEADLINE");
    expect(third).toMatchObject({ failed: true, restarts: 3 });
    expect(third.failed && third.reason).toMatch(/3 restarts within 10000 ms \(last: AGORA_ERR_DEADLINE\)/);
    expect(s.held(1e12)).toBe(true);
    s.revive();
    expect(s.failed).toBe(false);
    expect(s.trapped(4000, "AGORA_ERR_COMPONENT_TRAP")).toEqual({ failed: false, holdUntil: 4100 });
  });

  it("supervision - traps outside the window do not count", () => {
    const s = new Supervision(limits);
    for (const at of [0, 20_000, 40_000, 60_000]) expect(s.trapped(at, "x").failed).toBe(false);
  });

  it("supervision - a message is retried with backoff, then dead-lettered at maxDeliver; success forgets it", () => {
    const s = new Supervision(limits);
    expect(s.attemptFailed("a")).toEqual({ deadLetter: false, attempts: 1, retryInMs: 100 });
    expect(s.attemptFailed("a")).toEqual({ deadLetter: false, attempts: 2, retryInMs: 200 });
    expect(s.attemptFailed("a")).toEqual({ deadLetter: true, attempts: 3 });
    expect(s.attemptFailed("a")).toEqual({ deadLetter: true, attempts: 4 }); // its dead letter is not written yet
    s.deadLettered("a");
    expect(s.attemptFailed("a").attempts).toBe(1); // dead-lettered: counted afresh
    s.attemptFailed("b");
    s.succeeded("b");
    expect(s.attemptFailed("b").attempts).toBe(1);
  });

  it("supervision - backoffs are capped", () => {
    const s = new Supervision({ ...limits, maxDeliver: 100, restartBackoffMs: 10_000 });
    let last = 0;
    for (let i = 0; i < 10; i++) {
      const r = s.attemptFailed("x");
      if (!r.deadLetter) last = r.retryInMs;
    }
    expect(last).toBe(MAX_BACKOFF_MS);
  });
});
