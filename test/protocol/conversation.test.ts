// The conversation reducer: each protocol's path through the states, what does
// not end a conversation, and who may cancel one.
import { describe, expect, it } from "vitest";
import { advance, mayCancel, openConversation, type ConvAct } from "../../protocol/conversation.js";
import type { Act } from "../../protocol/envelope.js";

let n = 0;
const act = (sender: string, a: Act): ConvAct => ({
  id: `m${++n}`,
  sender,
  act: a,
  channel: "work",
  ts: `2026-12-03T00:00:${String(n % 60).padStart(2, "0")}.000Z`,
});

/** The states a conversation passes through, act by act. */
function path(...acts: [string, Act][]): string[] {
  const [first, ...rest] = acts.map(([s, a]) => act(s, a));
  const c = openConversation("c1", first!);
  return [c.state, ...rest.map((a) => advance(c, a).state)];
}

describe("conversation states", () => {
  it("conversation - a request is agreed and done, or refused, or fails", () => {
    expect(path(["alice", "request"], ["bob", "agree"], ["bob", "inform"])).toEqual(["requested", "agreed", "done"]);
    expect(path(["alice", "request"], ["bob", "refuse"], ["bob", "inform"])).toEqual([
      "requested",
      "refused",
      "refused",
    ]);
    expect(path(["alice", "query-ref"], ["bob", "failure"])).toEqual(["requested", "failed"]);
    expect(path(["alice", "request"], ["bob", "not-understood"])).toEqual(["requested", "failed"]);
  });

  it("conversation - a contract net: a bidder's refusal and the losers' rejections do not end it; the winner's report does", () => {
    expect(
      path(
        ["buyer", "request"],
        ["manager", "cfp"],
        ["bidder-a", "refuse"],
        ["bidder-b", "propose"],
        ["bidder-c", "propose"],
        ["manager", "accept-proposal"],
        ["manager", "reject-proposal"],
        ["bidder-b", "inform"],
      ),
    ).toEqual(["requested", "cfp", "cfp", "proposals", "proposals", "awarded", "awarded", "done"]);
  });

  it("conversation - a ballot stays proposed while votes come, in either direction, until announced", () => {
    expect(path(["chair", "propose"], ["v1", "agree"], ["v2", "refuse"], ["ballot", "inform"])).toEqual([
      "proposed",
      "proposed",
      "proposed",
      "done",
    ]);
  });

  it("conversation - informs alone stay open; a cancel ends anything, and what follows counts as dropped", () => {
    const first = act("a", "inform");
    const c = openConversation("c2", first);
    advance(c, act("b", "inform"));
    expect(c.state).toBe("open");
    const cancel = act("a", "cancel");
    advance(c, cancel);
    advance(c, act("b", "inform"));
    advance(c, act("b", "request"));
    expect(c).toMatchObject({
      state: "cancelled",
      cancelledBy: cancel.id,
      initiator: "a",
      acts: 3,
      dropped: 2,
      participants: ["a", "b"],
    });
  });

  it("conversation - only its initiator or a controller may cancel it", () => {
    const c = openConversation("c3", act("alice", "request"));
    expect(mayCancel(c, "alice", ["operator"])).toBe(true);
    expect(mayCancel(c, "operator", ["operator"])).toBe(true);
    expect(mayCancel(c, "mallory", ["operator"])).toBe(false);
    expect(mayCancel({ initiator: "" }, "mallory", ["operator"])).toBe(false); // forgotten: operators only
  });
});
