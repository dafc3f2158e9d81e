// Idempotency and state across host restarts, and failing components, on a real nats-server.
import { describe, expect, it } from "vitest";
import type { HostEvent } from "../../protocol/events.js";
import { collectEvents, readFacts, startAgora, until, type TestAgora } from "../helpers/agora.js";
import { agentWasm, fixtureWasm } from "../helpers/paths.js";

const facts = (a: TestAgora) => readFacts(a.config.factsDir);

describe("host - restarts", () => {
  it("host - each (agent, id) is processed once across a host restart mid-stream", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: { responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] } },
      external: { maintainer: { write: ["work"] } },
    });
    await a.startRecorder();
    const events: HostEvent[] = [];
    collectEvents(await a.startHost(), events);
    const m = await a.client("maintainer");
    const N = 300;
    // All at once: the host must not keep pace with the sending, or nothing is queued at the restart.
    const sent = (await Promise.all(Array.from({ length: N }, (_, i) => m.send("work", "request", { i })))).map(
      (r) => r.env.id,
    );
    const delivered = () => events.filter((e) => e.type === "delivered").length;
    await until(() => delivered() >= 40, 20_000, "first deliveries");
    await a.stopHost(); // mid-stream: the rest is still queued
    const firstRun = delivered();
    expect(firstRun).toBeLessThan(N);
    collectEvents(await a.startHost(), events);
    const deliveredIds = () =>
      new Set(events.filter((e) => e.type === "delivered").map((e) => (e as { id: string }).id));
    await until(() => deliveredIds().size >= N, 30_000, "all deliveries");
    const handled = events
      .filter((e): e is Extract<HostEvent, { type: "delivered" }> => e.type === "delivered")
      .map((e) => e.id);
    const dups = events.filter((e) => e.type === "duplicate").length;
    console.log(
      `restart mid-stream: ${N} sent, ${firstRun} handled before the restart, ${handled.length - firstRun} after, ${dups} redeliveries refused as duplicates`,
    );
    expect(new Set(handled).size).toBe(handled.length); // nothing handled twice
    expect(new Set(handled)).toEqual(new Set(sent)); // nothing lost
    await a.settleFacts();
    const replies = facts(a).filter((f) => f.type === "speech-act" && f.fields.sender === "responder");
    expect(replies).toHaveLength(N);
    expect(new Set(replies.map((f) => f.fields.re)).size).toBe(N);
  });

  it("host - agent state lives in KV and survives a restart (voter rule)", async () => {
    await using a = await startAgora({
      channels: ["votes"],
      agents: { voter: { component: agentWasm("voter"), read: ["votes"], write: ["votes"] } },
      external: { maintainer: { write: ["votes"] } },
    });
    const events: HostEvent[] = [];
    collectEvents(await a.startHost(), events);
    const m = await a.client("maintainer");
    const answer = async (cost: number) => {
      const { env } = await m.send("votes", "propose", { cost });
      await until(() => events.some((e) => e.type === "emitted" && e.re === env.id), 10_000, "vote");
      return (events.find((e) => e.type === "emitted" && e.re === env.id) as { act: string }).act;
    };
    expect(await answer(50)).toBe("agree");
    expect(await answer(500)).toBe("refuse");
    const { env } = await m.send("votes", "inform", { voterRule: { maxCost: 1000 } });
    await until(() => events.some((e) => e.type === "delivered" && e.id === env.id), 10_000, "rule");
    await a.stopHost();
    collectEvents(await a.startHost(), events);
    expect(await answer(500)).toBe("agree"); // the rule came back from KV
    expect(await answer(5000)).toBe("refuse");
    const votes = await a.infra.state.get(`voter.${Buffer.from("votes").toString("base64url")}`);
    expect(votes?.string()).toBe("4");
  });

  it("host - a failing component is recorded, its effects discarded, the host keeps serving", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: { trapper: { component: fixtureWasm("trapper"), read: ["work"], write: ["work"] } },
      external: { maintainer: { write: ["work"] } },
      limits: { maxDeliver: 1 },
    });
    await a.startRecorder();
    const events: HostEvent[] = [];
    collectEvents(await a.startHost(), events);
    const m = await a.client("maintainer");
    const err = await m.send("work", "cancel", {});
    const trap = await m.send("work", "failure", {});
    const ok = await m.send("work", "request", {});
    await until(() => events.some((e) => e.type === "emitted" && e.re === ok.env.id), 10_000, "ok reply");
    const failed = events.filter((e): e is Extract<HostEvent, { type: "failed" }> => e.type === "failed");
    expect(failed.map((e) => e.id)).toEqual([err.env.id, trap.env.id]);
    expect(failed[0]!.code).toBe("AGORA_ERR_BAD_BODY");
    expect(failed[1]!.code).toBe("AGORA_ERR_COMPONENT_TRAP");
    expect(events.some((e) => e.type === "emitted" && (e.re === err.env.id || e.re === trap.env.id))).toBe(false);
    const last = await a.infra.state.get(`trapper.${Buffer.from("last").toString("base64url")}`);
    expect(last?.string()).toBe(ok.env.id); // failed calls wrote nothing
    await a.settleFacts();
    expect(facts(a).filter((f) => f.type === "failed")).toHaveLength(2);
  });
});
