// The ballot reference agent (agent/ballot): a vote decided by quorum, and one
// closed by its deadline — a durable timer — across a host restart, each
// decision one fact listing the votes it counted.
import { describe, expect, it } from "vitest";
import type { HostEvent } from "../../protocol/events.js";
import { verifyFacts } from "../../facts/verify.js";
import { collectEvents, readFacts, startAgora, until, type TestAgora } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";

const voters = ["voter-a", "voter-b", "voter-c"];
const spec = {
  channels: ["vote"],
  agents: {
    ballot: { component: agentWasm("ballot"), read: ["vote"], write: ["vote"] },
    ...Object.fromEntries(voters.map((v) => [v, { component: agentWasm("voter"), read: ["vote"], write: ["vote"] }])),
  },
  external: { chair: { write: ["vote"] } },
};

/** The ballot's announcements, from the facts. */
async function decisions(a: TestAgora) {
  await a.settleFacts();
  return readFacts(a.config.factsDir)
    .filter((f) => f.type === "speech-act" && f.fields.sender === "ballot")
    .map((f) => ({
      re: String(f.fields.re),
      body: JSON.parse(String(f.fields.body)) as {
        result: string;
        votes: { voter: string; act: string; id: string }[];
      },
    }));
}

const answersTo = (events: HostEvent[], id: string) =>
  events.filter((e): e is Extract<HostEvent, { type: "emitted" }> => e.type === "emitted" && e.re === id);

/** A running deployment (recorder, host) where `chair` has just proposed `ballot` (at hop 4). */
async function proposed(a: TestAgora, ballot: Record<string, unknown>) {
  await a.startRecorder();
  const events: HostEvent[] = [];
  collectEvents(await a.startHost(), events);
  const chair = await a.client("chair");
  const { env: propose } = await chair.send("vote", "propose", ballot, { hop: 4 });
  return { events, chair, propose };
}

describe("ballot", () => {
  it("ballot - decided by quorum: the first two agreeing voters close it; outsiders and late votes are not counted", async () => {
    await using a = await startAgora(spec);
    const { events, chair, propose } = await proposed(a, {
      question: "ship 1.4?",
      cost: 50,
      voters,
      quorum: 2,
      deadlineMs: 60_000,
    });
    await chair.send("vote", "agree", { me: "too" }, { re: propose.id }); // not a named voter
    await until(() => answersTo(events, propose.id).some((e) => e.agent === "ballot"), 20_000, "the decision");
    await until(() => answersTo(events, propose.id).length >= 4, 20_000, "every voter's answer"); // 3 votes + the decision
    const [decision, ...more] = await decisions(a);
    expect(more).toHaveLength(0); // announced once
    expect(decision!.re).toBe(propose.id);
    expect(decision!.body.result).toBe("accepted");
    const votes = answersTo(events, propose.id).filter((e) => e.agent !== "ballot");
    expect(decision!.body.votes).toHaveLength(2);
    for (const v of decision!.body.votes) {
      expect(voters).toContain(v.voter);
      expect(votes.find((e) => e.agent === v.voter)?.id).toBe(v.id); // each counted vote, by its message id
    }
    // The decision's fact cites each vote's fact.
    const recorded = readFacts(a.config.factsDir);
    const factOf = (id: string) => recorded.find((f) => f.type === "speech-act" && f.fields["envelope-id"] === id)!;
    const decided = recorded.find((f) => f.type === "speech-act" && f.fields.sender === "ballot")!;
    expect(decided.links?.filter((l) => l.type === "cites").map((l) => l.target)).toEqual(
      decision!.body.votes.map((v) => factOf(v.id).id),
    );
    // The timer's set and cancel are recorded off the agent's path: wait for them.
    const timerFacts = async (type: string) => {
      await a.settleFacts();
      return readFacts(a.config.factsDir).filter((f) => f.type === type);
    };
    await until(async () => (await timerFacts("timer-cancelled")).length > 0, 10_000, "the timer's cancel recorded");
    const facts = readFacts(a.config.factsDir);
    expect(facts.filter((f) => f.type === "timer-set")).toHaveLength(1);
    expect(facts.filter((f) => f.type === "timer-cancelled")).toHaveLength(1); // decided before its deadline
    expect(facts.filter((f) => f.type === "timer-fired")).toHaveLength(0);
    expect(verifyFacts(a.config.factsDir).problems).toEqual([]);
  });

  it("ballot - closed by its deadline with the votes it had, while its host was restarted in between", async () => {
    await using a = await startAgora(spec);
    // voter-b and voter-c answer too, but are not named: only voter-a counts, so no quorum of 2 can form.
    const { events, propose } = await proposed(a, {
      question: "rewrite it all?",
      cost: 50,
      voters: ["voter-a", "absent-1", "absent-2"],
      quorum: 2,
      deadlineMs: 2500,
    });
    // voter-a's vote handed to the ballot and committed (every message handed to it so far handled): a vote
    // still in flight at the stop would come back only after the ack wait, behind the overdue timer.
    const toBallot = () => events.filter((e) => e.type === "delivered" && e.agent === "ballot");
    await until(
      () =>
        toBallot().some((e) => e.type === "delivered" && e.sender === "voter-a" && e.act === "agree") &&
        (a.host!.handled().ballot ?? 0) >= toBallot().length,
      20_000,
      "voter-a's vote counted by the ballot",
    );
    await a.stopHost();
    await new Promise((r) => setTimeout(r, 3000)); // the deadline passes while no host runs
    await a.startHost(); // the overdue timer fires as the ballot starts: read the decision from the facts
    await until(async () => (await decisions(a)).length > 0, 20_000, "the deadline decision");
    await new Promise((r) => setTimeout(r, 500));
    const [decision, ...more] = await decisions(a);
    expect(more).toHaveLength(0);
    expect(decision!.re).toBe(propose.id);
    expect(decision!.body.result).toBe("expired");
    expect(decision!.body.votes.map((v) => [v.voter, v.act])).toEqual([["voter-a", "agree"]]);
    expect(readFacts(a.config.factsDir).filter((f) => f.type === "timer-fired")).toHaveLength(1);
    expect(verifyFacts(a.config.factsDir).problems).toEqual([]);
  });
});
