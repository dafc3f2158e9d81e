// `agora demo ballot` and `agora demo contract-net`: the reference protocol
// agents on real JetStream, driven by durable timers, told from the facts.
import { conversationFacts } from "../facts/conversations.js";
import type { Fact } from "../facts/fact.js";
import { verifyFacts } from "../facts/verify.js";
import type { HostEvent } from "../protocol/events.js";
import { builtAgent } from "./paths.js";
import { withDemoDeployment, type DemoDeployment, type DemoOptions } from "./demo-deployment.js";

/** One line of a demo's table: what, and how it came out. */
export type DemoRow = [string, string];

export interface DemoResult {
  /** Whether it came out as the protocol promises (the command exits 1 otherwise). */
  ok: boolean;
  rows: DemoRow[];
  facts: number;
  factsVerified: boolean;
  ms: number;
}

/** The result as the table `agora demo …` prints. */
export function formatDemo(r: DemoResult): string {
  const rows: DemoRow[] = [
    ...r.rows,
    ["facts recorded / verified", `${r.facts} / ${r.factsVerified ? "ok" : "FAILED"}`],
  ];
  rows.push(["ran in", `${r.ms} ms`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}

const speech = (facts: Fact[]) => facts.filter((f) => f.type === "speech-act");
const body = (f: Fact) => JSON.parse(String(f.fields.body)) as Record<string, unknown>;
/** The first act of `sender` answering `id` with one of `acts`. */
const answering = (facts: Fact[], id: string, sender: string, acts: readonly string[]) =>
  speech(facts).find((f) => f.fields.re === id && f.fields.sender === sender && acts.includes(String(f.fields.act)));

async function finish(d: DemoDeployment, started: number, rows: DemoRow[], ok: boolean): Promise<DemoResult> {
  await d.facts();
  const report = verifyFacts(d.config.factsDir);
  return { ok: ok && report.ok, rows, facts: report.facts, factsVerified: report.ok, ms: Date.now() - started };
}

/** Two ballots: one decided by quorum, one closed by its deadline with the one vote it had. */
export async function runBallotDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const voters = ["voter-a", "voter-b", "voter-c"];
  const raw = {
    channels: { vote: { description: "ballots and votes" } },
    agents: {
      ballot: { component: builtAgent("ballot"), read: ["vote"], write: ["vote"] },
      ...Object.fromEntries(
        voters.map((v) => [v, { component: builtAgent("voter"), read: ["vote"], write: ["vote"] }]),
      ),
    },
    external: { chair: { write: ["vote"] } },
  };
  return withDemoDeployment(raw, options, async (d) => {
    const chair = await d.client("chair");
    log("agents: ballot, voter-a, voter-b, voter-c (each agrees to a cost ≤ 100); chair proposes at cost 50");
    const decision = async (id: string) => answering(await d.facts(), id, "ballot", ["inform"]);
    const vote = async (question: string, ballot: Record<string, unknown>) => {
      const t0 = performance.now();
      const { env } = await chair.send("vote", "propose", { question, cost: 50, ...ballot }, { hop: 4 });
      log(`chair → vote: propose ${env.id} ${JSON.stringify(ballot)}`);
      await d.until(async () => (await decision(env.id)) !== undefined, 30_000);
      const ms = performance.now() - t0;
      const f = await decision(env.id);
      const b = f ? (body(f) as { result: string; votes: { voter: string; act: string }[] }) : undefined;
      const cites = f?.links?.filter((l) => l.type === "cites").length ?? 0;
      return { b, ms, cites };
    };
    const quorum = await vote("ship 1.4?", { voters, quorum: 2, deadlineMs: 10_000 });
    const deadline = await vote("rewrite it all?", {
      voters: ["voter-a", "absent-1", "absent-2"],
      quorum: 2,
      deadlineMs: 1500,
    });
    const fired = (await d.facts()).filter((f) => f.type === "timer-fired").length;
    const votes = (v: typeof quorum) => v.b?.votes.map((x) => `${x.voter} ${x.act}`).join(", ") ?? "-";
    const rows: DemoRow[] = [
      ["ballot 1 (quorum 2 of 3)", `${quorum.b?.result ?? "no decision"} in ${quorum.ms.toFixed(0)} ms`],
      ["  votes counted", `${votes(quorum)} (the decision cites ${quorum.cites} vote fact(s))`],
      ["ballot 2 (deadline 1,500 ms)", `${deadline.b?.result ?? "no decision"} in ${deadline.ms.toFixed(0)} ms`],
      ["  votes counted", `${votes(deadline)} (absent-1, absent-2 never voted)`],
      ["timers fired", String(fired)],
    ];
    const ok =
      quorum.b?.result === "accepted" &&
      quorum.cites === quorum.b.votes.length &&
      deadline.b?.result === "expired" &&
      deadline.b.votes.length === 1;
    return finish(d, started, rows, ok);
  });
}

/** How long the demo's manager takes bids: room for a busy machine (a bid after it is not counted). */
const BIDS_MS = 2000;

/** A contract net with three bidders awarded to the cheapest, and a second request its requester cancels. */
export async function runContractNetDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const costs: Record<string, number> = { "bidder-a": 30, "bidder-b": 10, "bidder-c": 20 };
  const cfg = (b: string) => `cfg-${b.slice(-1)}`;
  const raw = {
    channels: Object.fromEntries(["net", ...Object.keys(costs).map(cfg)].map((c) => [c, null])),
    agents: {
      manager: { component: builtAgent("contract-net"), read: ["net"], write: ["net"] },
      ...Object.fromEntries(
        Object.keys(costs).map((b) => [b, { component: builtAgent("bidder"), read: ["net", cfg(b)], write: ["net"] }]),
      ),
    },
    external: { buyer: { write: ["net"] }, ops: { write: Object.keys(costs).map(cfg) } },
  };
  return withDemoDeployment(raw, options, async (d) => {
    const ops = await d.client("ops");
    for (const [bidder, cost] of Object.entries(costs))
      await ops.send(cfg(bidder), "inform", { bidderCost: cost, bidder });
    await d.until(
      () => d.events.filter((e) => e.type === "delivered" && e.agent.startsWith("bidder-")).length >= 3,
      10_000,
    );
    log(
      `agents: manager, ${Object.entries(costs)
        .map(([b, c]) => `${b} (cost ${c})`)
        .join(", ")}`,
    );
    const buyer = await d.client("buyer");
    const t0 = performance.now();
    const { env: request } = await buyer.send("net", "request", { task: "build 1.4", deadlineMs: BIDS_MS }, { hop: 6 });
    log(`buyer → net: request ${request.id} (bids close after ${BIDS_MS} ms)`);
    const answer = async () => answering(await d.facts(), request.id, "manager", ["inform", "failure"]);
    await d.until(async () => (await answer()) !== undefined, 30_000);
    const doneMs = performance.now() - t0;
    const facts = await d.facts();
    const proposals = speech(facts).filter((f) => f.fields.act === "propose");
    const accept = speech(facts).find((f) => f.fields.act === "accept-proposal");
    const rejects = speech(facts).filter((f) => f.fields.act === "reject-proposal").length;
    const result = await answer();

    // A second request, cancelled by the buyer once the bids are in: no award, later acts dropped.
    const { env: second } = await buyer.send("net", "request", { task: "paint", deadlineMs: 60_000 }, { hop: 6 });
    const bids = () =>
      d.events.filter(
        (e): e is Extract<HostEvent, { type: "delivered" }> =>
          e.type === "delivered" && e.agent === "manager" && e.act === "propose",
      ).length;
    await d.until(() => bids() >= 6, 10_000);
    const { env: cancel } = await buyer.send("net", "cancel", { reason: "no longer needed" }, { conv: second.id });
    log(`buyer → net: cancel ${cancel.id} of ${second.id}`);
    await d.until(async () => (await d.infra.convs.get(second.id)) !== null, 10_000);
    // The first net's result timer was cancelled by the winner's report; this one's bidding timer by the cancel.
    await d.until(
      () => d.events.filter((e) => e.type === "timer_cancelled" && e.agent === "manager").length >= 2,
      10_000,
    );
    await d.facts();
    const [first, cancelled] = [request.id, second.id].map(
      (id) => conversationFacts(d.config.factsDir, { conv: id })[0],
    );
    const rows: DemoRow[] = [
      [
        "request 1: proposals",
        `${proposals.length} (${proposals.map((p) => `${p.fields.sender} ${body(p).cost}`).join(", ")})`,
      ],
      ["  awarded to", `${String(accept ? body(accept).bidder : "-")} (${rejects} turned down)`],
      [
        "  answer",
        `${String(result?.fields.act ?? "-")} ${result ? JSON.stringify(body(result).result ?? body(result).reason) : ""}`,
      ],
      ["  done after", `${doneMs.toFixed(0)} ms (bids closed at ${BIDS_MS} ms)`],
      ["  conversation", `${first?.state ?? "-"}, ${first?.acts ?? 0} acts`],
      ["request 2: cancelled by buyer", `${cancelled?.state ?? "-"} after ${cancelled?.acts ?? 0} acts; no award`],
    ];
    const ok =
      accept !== undefined &&
      body(accept).bidder === "bidder-b" &&
      result?.fields.act === "inform" &&
      first?.state === "done" &&
      cancelled?.state === "cancelled";
    return finish(d, started, rows, ok);
  });
}
