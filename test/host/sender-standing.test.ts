// A kill stops any identity, not only hosted agents, and a send budget holds
// whoever the client is: what a killed external — or one past its budget —
// publishes straight on NATS is dropped by every reader (the host, an SDK
// inbox), recorded (sender-killed / over-budget facts; the recorder marks the
// speech act killed), and its trace says why. Revive restores it.
import { describe, expect, it } from "vitest";
import type { HostEvent } from "../../protocol/events.js";
import { connect, type InboxRejection } from "../../sdk/index.js";
import { verifyFacts } from "../../facts/verify.js";
import { markerKey } from "../../protocol/subjects.js";
import { collectEvents, readFacts, startAgora, TOKENS, until } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";

const op = { authorization: `Bearer ${TOKENS.operator}` };

describe("controls - sender standing", () => {
  it("controls - a killed external's direct publishes reach no agent and are recorded; revive restores it", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: { responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] } },
      external: { mallory: { read: ["work"], write: ["work"] }, listener: { read: ["work"] }, operator: {} },
    });
    const g = await a.startGateway();
    await a.startRecorder();
    const host = await a.startHost();
    const events: HostEvent[] = [];
    collectEvents(host, events);
    const rejections: InboxRejection[] = [];
    await using listener = await connect({ name: "listener", config: a.config, servers: a.nats.url });
    const inbox = await listener.inbox({ onRejected: (r) => rejections.push(r) });
    const got: string[] = [];
    const reading = (async () => {
      for await (const m of inbox) got.push(m.env.id);
    })();
    // A hand-written client: it signs and publishes on its own NATS login, no SDK checks.
    const mallory = await a.client("mallory");
    const before = await mallory.send("work", "request", { n: 0 });
    await until(() => events.some((e) => e.type === "delivered" && e.id === before.env.id), 10_000, "delivered");

    const res = await g.app.inject({ method: "POST", url: "/api/kill", headers: op, payload: { agent: "mallory" } });
    expect(res.statusCode).toBe(200);
    const flood = [];
    for (let i = 1; i <= 5; i++) flood.push(await mallory.send("work", "request", { n: i }));
    const ids = new Set(flood.map((s) => s.env.id));
    await until(
      () => events.filter((e) => e.type === "sender_killed" && ids.has(e.id)).length === 5,
      10_000,
      "the host's drops",
    );
    expect(events.filter((e) => e.type === "delivered" && ids.has(e.id))).toEqual([]);
    expect(events.find((e) => e.type === "sender_killed")).toMatchObject({ agent: "responder", sender: "mallory" });
    // The trace of a dropped message says why.
    const marker = await a.infra.processed.get(markerKey("responder", flood[0]!.env.id));
    expect(marker?.string()).toBe("rejected:AGORA_ERR_KILLED");
    // The SDK inbox drops them too.
    await until(() => inbox.counters.refused === 5, 10_000, "the inbox's refusals");
    expect(rejections.map((r) => r.code)).toEqual(Array(5).fill("AGORA_ERR_KILLED"));
    // Its card says killed; so do the console's agents.
    const cards = await listener.agents();
    expect(cards.find((p) => p.card.name === "listener")?.status).not.toBe("killed");
    const agents = (await g.app.inject({ url: "/api/agents", headers: op })).json() as {
      name: string;
      status: string;
    }[];
    expect(agents.find((x) => x.name === "mallory")).toMatchObject({ status: "killed", killable: true });
    expect(agents.find((x) => x.name === "operator")).toMatchObject({ killable: false }); // the console shows no KILL for it
    // The operator's own identity and unknown names cannot be killed.
    for (const agent of ["operator", "nobody"]) {
      const r = await g.app.inject({ method: "POST", url: "/api/kill", headers: op, payload: { agent } });
      expect(r.statusCode).toBe(400);
    }

    await g.app.inject({ method: "POST", url: "/api/revive", headers: op, payload: { agent: "mallory" } });
    const after = await mallory.send("work", "request", { n: 6 });
    await until(() => events.some((e) => e.type === "delivered" && e.id === after.env.id), 10_000, "delivered again");
    await until(() => got.includes(after.env.id), 10_000, "the listener gets it");
    expect(got.filter((id) => ids.has(id))).toEqual([]);
    await inbox.close();
    await reading;
    // Recorded: the kill and revive of mallory (by the gateway), a drop per message, and the acts marked killed.
    await a.settleFacts();
    const facts = readFacts(a.config.factsDir);
    expect(facts.filter((f) => f.type === "killed" && f.fields.agent === "mallory")).toHaveLength(1);
    expect(facts.filter((f) => f.type === "revived" && f.fields.agent === "mallory")).toHaveLength(1);
    expect(facts.filter((f) => f.type === "sender-killed")).toHaveLength(5);
    const acts = facts.filter((f) => f.type === "speech-act" && f.fields.sender === "mallory");
    expect(
      acts
        .filter((f) => f.status === "killed")
        .map((f) => f.fields["envelope-id"])
        .sort(),
    ).toEqual([...ids].sort());
    expect(acts.find((f) => f.fields["envelope-id"] === after.env.id)?.status).toBe("accepted");
    const report = verifyFacts(a.config.factsDir);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  }, 60_000);

  it("controls - sends beyond an identity's budget are dropped by the host, once per message, and recorded", async () => {
    await using a = await startAgora({
      channels: ["work", "other"],
      agents: {
        responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] },
        voter: { component: agentWasm("voter"), read: ["work", "other"], write: ["work"] },
      },
      external: { chatty: { write: ["work", "other"], actsPerMinute: 4 } },
    });
    await a.startRecorder();
    const host = await a.startHost();
    const events: HostEvent[] = [];
    collectEvents(host, events);
    const chatty = await a.client("chatty");
    const sent = [];
    for (let i = 0; i < 7; i++) sent.push(await chatty.send(i % 2 ? "other" : "work", "inform", { n: i }));
    const decided = (e: HostEvent) => (e.type === "delivered" || e.type === "over_budget") && e.agent === "voter";
    await until(() => events.filter(decided).length === 7, 15_000, "the voter's decisions");
    // The budget counts acts across channels: 4 of the 7 pass, the rest are dropped.
    const voter = events.filter(decided) as { type: string; id: string }[];
    expect(voter.filter((e) => e.type === "delivered")).toHaveLength(4);
    expect(voter.filter((e) => e.type === "over_budget")).toHaveLength(3);
    // The responder reads only work: for what it sees it decides as the voter did (one count per message, not per reader).
    const work = new Set(sent.filter((_, i) => i % 2 === 0).map((s) => s.env.id));
    const forResponder = () =>
      events.filter((e) => (e.type === "delivered" || e.type === "over_budget") && e.agent === "responder") as {
        type: string;
        id: string;
      }[];
    await until(() => forResponder().length === work.size, 10_000, "the responder's decisions");
    for (const e of forResponder()) expect(e.type).toBe(voter.find((v) => v.id === e.id)!.type);
    const overForResponder = forResponder().filter((e) => e.type === "over_budget").length;
    await a.settleFacts();
    expect(readFacts(a.config.factsDir).filter((f) => f.type === "over-budget")).toHaveLength(3 + overForResponder);
  }, 60_000);
});
