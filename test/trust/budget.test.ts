// The sender standing every reader applies: a send budget judged by stream time
// (once per message, whatever order the messages arrive in), and a kill judged
// both now and at the time a message was stored.
import { describe, expect, it } from "vitest";
import { ControlState, type ControlEnvelope } from "../../protocol/control.js";
import { parseConfig } from "../../config/config.js";
import { BUDGET_WINDOW_MS, SendBudget, SenderStanding } from "../../trust/budget.js";

const T = Date.parse("2026-12-02T10:00:00.000Z");
const control = (verb: "kill" | "revive", agent: string, at: number, id = `${verb}-${at}`): ControlEnvelope => ({
  v: 1,
  id,
  verb,
  agent,
  by: "operator",
  ts: new Date(at).toISOString(),
  sig: "x",
});

describe("sender standing", () => {
  it("budget - at most the limit in any window, judged by each message's own stored time, once per id", () => {
    const budget = new SendBudget((s) => (s === "chatty" ? 3 : undefined));
    expect([1, 2, 3, 4].map((i) => budget.admit("chatty", `m${i}`, T + i))).toEqual([true, true, true, false]);
    expect(budget.admit("chatty", "m4", T + 4)).toBe(false); // the same id: the same answer, not counted again
    expect(budget.admit("chatty", "m1", T + 1)).toBe(true);
    // A window later there is room again.
    expect(budget.admit("chatty", "m5", T + 1 + BUDGET_WINDOW_MS)).toBe(true);
    // A message stored long before, arriving late (another channel lagged), is judged by its own window…
    expect(budget.admit("chatty", "early", T - BUDGET_WINDOW_MS)).toBe(true);
    // …and one arriving late into a full window is refused: no window may hold more than the limit.
    const late = new SendBudget(() => 2);
    expect([late.admit("s", "a", T), late.admit("s", "c", T + 20)]).toEqual([true, true]);
    expect(late.admit("s", "b", T + 10)).toBe(false); // (T + 20 − 60 s, T + 20] would hold 3
    expect(late.admit("s", "d", T - BUDGET_WINDOW_MS + 5)).toBe(true); // its windows end before T + 5 − … hold 1 at most
    expect(budget.admit("other", "x", T)).toBe(true); // no budget
    // Spending without an id is not remembered: a refused act may be tried again later.
    const own = new SendBudget(() => 1);
    expect([own.spend("me", T), own.spend("me", T + 1), own.spend("me", T + BUDGET_WINDOW_MS + 1)]).toEqual([
      true,
      false,
      true,
    ]);
  });

  it("kill - a sender is refused when killed now, and for what it stored while killed even after a revive", () => {
    const config = parseConfig(
      { channels: { work: null }, external: { mallory: { write: ["work"] }, operator: {} } },
      { baseDir: "/tmp", env: {} },
    );
    const state = new ControlState();
    const standing = new SenderStanding(config, state);
    const env = (id: string) => ({ sender: "mallory", id });
    expect(standing.of(env("a"), T)).toBeUndefined();
    state.apply(control("kill", "mallory", T + 1000));
    expect(standing.of(env("b"), T)).toBe("sender_killed"); // stored before, still queued: dropped now
    state.apply(control("revive", "mallory", T + 2000));
    expect(standing.of(env("c"), T + 1500)).toBe("sender_killed"); // stored while killed
    expect(standing.of(env("d"), T + 2500)).toBeUndefined();
    expect(state.decidingAt("mallory", T + 1500)?.verb).toBe("kill");
    // kill * covers externals, never the operator's own identity.
    state.apply(control("kill", "*", T + 3000));
    expect(standing.of(env("e"), T + 3500)).toBe("sender_killed");
    expect(standing.of({ sender: "operator", id: "f" }, T + 3500)).toBeUndefined();
  });
});
