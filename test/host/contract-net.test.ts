// The contract net (agent/contract-net, agent/bidder): a call for proposals to
// three bidders awarded to the cheapest, and a request no one answers ending
// as failed at its deadline — both driven by durable timers, all as facts.
import { describe, expect, it } from "vitest";
import type { HostEvent } from "../../protocol/events.js";
import { verifyFacts } from "../../facts/verify.js";
import { collectEvents, readFacts, startAgora, until, type TestAgora } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";

const costs = { "bidder-a": 30, "bidder-b": 10, "bidder-c": 20 };
const cfg = (bidder: string) => `cfg-${bidder.slice(-1)}`;
const spec = {
  channels: ["net", "lonely", ...Object.keys(costs).map(cfg)],
  agents: {
    manager: { component: agentWasm("contract-net"), read: ["net", "lonely"], write: ["net", "lonely"] },
    ...Object.fromEntries(
      Object.keys(costs).map((b) => [b, { component: agentWasm("bidder"), read: ["net", cfg(b)], write: ["net"] }]),
    ),
  },
  external: { buyer: { write: ["net", "lonely"] }, ops: { write: Object.keys(costs).map(cfg) } },
};

/** Every act on the net, from the facts: who, what, answering what, with which body. */
async function acts(a: TestAgora) {
  await a.settleFacts();
  return readFacts(a.config.factsDir)
    .filter((f) => f.type === "speech-act")
    .map((f) => ({
      id: String(f.fields["envelope-id"] ?? f.fields.id),
      sender: String(f.fields.sender),
      act: String(f.fields.act),
      re: f.fields.re === undefined ? undefined : String(f.fields.re),
      body: JSON.parse(String(f.fields.body)) as Record<string, unknown>,
    }));
}

describe("contract net", () => {
  it("contract net - three bidders: the cheapest is awarded, the others turned down, the winner's report closes it; a request no one answers fails at its deadline", async () => {
    await using a = await startAgora(spec);
    await a.startRecorder();
    const events: HostEvent[] = [];
    collectEvents(await a.startHost(), events);
    const ops = await a.client("ops");
    for (const [bidder, cost] of Object.entries(costs))
      await ops.send(cfg(bidder), "inform", { bidderCost: cost, bidder });
    await until(
      () => events.filter((e) => e.type === "delivered" && e.agent.startsWith("bidder-")).length >= 3,
      10_000,
      "the bidders' costs",
    );
    const buyer = await a.client("buyer");
    const started = performance.now();
    const { env: request } = await buyer.send("net", "request", { task: "build 1.4", deadlineMs: 1500 }, { hop: 6 });
    const { env: lonely } = await buyer.send("lonely", "request", { task: "nobody", deadlineMs: 500 }, { hop: 6 });
    /** The manager's answer to a request (its cfp answers it too). */
    const answer = async (id: string) =>
      (await acts(a)).find((x) => x.sender === "manager" && x.re === id && (x.act === "inform" || x.act === "failure"));
    await until(async () => (await answer(request.id))?.act === "inform", 20_000, "the manager's answer");
    const ms = performance.now() - started;

    const all = await acts(a);
    const cfp = all.find((x) => x.sender === "manager" && x.act === "cfp" && x.re === request.id)!;
    const proposals = all.filter((x) => x.act === "propose" && x.re === cfp.id);
    expect(proposals.map((p) => [p.sender, p.body.cost]).sort()).toEqual([
      ["bidder-a", 30],
      ["bidder-b", 10],
      ["bidder-c", 20],
    ]);
    const cheapest = proposals.find((p) => p.sender === "bidder-b")!;
    const accepts = all.filter((x) => x.act === "accept-proposal");
    expect(accepts.map((x) => x.re)).toEqual([cheapest.id]);
    expect(
      all
        .filter((x) => x.act === "reject-proposal")
        .map((x) => x.re)
        .sort(),
    ).toEqual(
      proposals
        .filter((p) => p !== cheapest)
        .map((p) => p.id)
        .sort(),
    );
    expect((await answer(request.id))!.body).toMatchObject({ result: "done", winner: "bidder-b", cost: 10 });
    const reports = all.filter((x) => x.act === "inform" && x.re === accepts[0]!.id);
    expect(reports.map((x) => x.sender)).toEqual(["bidder-b"]); // only the winner works
    console.log(
      `contract net: 3 proposals, awarded to bidder-b (cost 10), done ${ms.toFixed(0)} ms after the request (bids close at 1,500 ms)`,
    );

    // Nobody reads `lonely` but the manager: its call for proposals gets no answer.
    const failed = await answer(lonely.id);
    expect(failed?.act).toBe("failure");
    expect(failed!.body).toMatchObject({ reason: "no proposals before the deadline", task: "nobody" });
    await until(
      async () => (await acts(a), readFacts(a.config.factsDir).filter((f) => f.type === "timer-set").length >= 3),
      10_000,
      "the timers' facts",
    );
    const facts = readFacts(a.config.factsDir);
    expect(facts.filter((f) => f.type === "timer-fired")).toHaveLength(2); // both bidding deadlines
    expect(verifyFacts(a.config.factsDir).problems).toEqual([]);
  });
});
