// Supervision: restarts with backoff, failed after too many, dead letters, the
// per-call deadline, the linear-memory limit.
import { describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import type { HostEvent } from "../../protocol/events.js";
import { collectEvents, readFacts, startAgora, TOKENS, until } from "../helpers/agora.js";
import { agentWasm, fixtureWasm } from "../helpers/paths.js";
import { DLQ_STREAM, STREAM } from "../../protocol/subjects.js";
import { consumerName } from "../../protocol/subjects.js";

const of = <T extends HostEvent["type"]>(events: HostEvent[], type: T) =>
  events.filter((e): e is Extract<HostEvent, { type: T }> => e.type === type);

describe("supervision", () => {
  it("supervision - a trapping component restarts from KV with backoff; a message that keeps failing is dead-lettered", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: { trapper: { component: fixtureWasm("trapper"), read: ["work"], write: ["work"] } },
      external: { maintainer: { write: ["work"] } },
      limits: { maxDeliver: 3, restartBackoff: "50ms", maxRestarts: 10 },
    });
    await a.startRecorder();
    const events: HostEvent[] = [];
    collectEvents(await a.startHost(), events);
    const m = await a.client("maintainer");
    const first = await m.send("work", "request", {});
    await until(() => of(events, "emitted").some((e) => e.re === first.env.id), 10_000, "first reply");
    const bad = await m.send("work", "failure", {}); // traps every time
    const after = await m.send("work", "request", {});
    await until(() => of(events, "dead_lettered").length === 1, 15_000, "dead letter");
    await until(() => of(events, "emitted").some((e) => e.re === after.env.id), 10_000, "served after");
    const failures = of(events, "failed").filter((e) => e.id === bad.env.id);
    expect(failures).toHaveLength(3);
    expect(failures.every((f) => f.code === "AGORA_ERR_COMPONENT_TRAP")).toBe(true);
    expect(of(events, "dead_lettered")[0]).toMatchObject({
      agent: "trapper",
      id: bad.env.id,
      attempts: 3,
      code: "AGORA_ERR_COMPONENT_TRAP",
    });
    // The dead letter is on agora.dlq.trapper with its reason.
    const dlq = await a.infra.jsm.streams.getMessage(DLQ_STREAM, { last_by_subj: "agora.dlq.trapper" });
    expect(dlq!.json<{ code: string; reason: string; envelope: { id: string } }>()).toMatchObject({
      code: "AGORA_ERR_COMPONENT_TRAP",
      envelope: { id: bad.env.id },
    });
    // State came back from KV after each restart: `last` is the last committed id.
    const last = await a.infra.state.get(`trapper.${Buffer.from("last").toString("base64url")}`);
    expect(last?.string()).toBe(after.env.id);
    await a.settleFacts();
    expect(readFacts(a.config.factsDir).filter((f) => f.type === "dead-lettered")).toHaveLength(1);
    void jetstream;
  });

  it("supervision - after too many restarts in the window an agent is marked failed, visibly; revive brings it back", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: { trapper: { component: fixtureWasm("trapper"), read: ["work"], write: ["work"] } },
      external: { maintainer: { write: ["work"] }, operator: { write: ["work"] } },
      limits: { maxDeliver: 1, restartBackoff: "10ms", maxRestarts: 2, restartWindow: "60s" },
    });
    await a.startRecorder();
    const events: HostEvent[] = [];
    const host = await a.startHost();
    collectEvents(host, events);
    const g = await a.startGateway();
    const m = await a.client("maintainer");
    for (let i = 0; i < 3; i++) await m.send("work", "failure", { i });
    await until(() => of(events, "agent_failed").length === 1, 10_000, "agent failed");
    const pending = await m.send("work", "request", {});
    await new Promise((r) => setTimeout(r, 500));
    expect(of(events, "delivered").some((e) => e.id === pending.env.id)).toBe(false); // a failed agent gets nothing
    const agents = (
      await g.app.inject({ url: "/api/agents", headers: { authorization: `Bearer ${TOKENS.viewer}` } })
    ).json() as { name: string; status: string; reason?: string }[];
    expect(agents.find((x) => x.name === "trapper")).toMatchObject({ status: "failed" });
    expect(agents.find((x) => x.name === "trapper")?.reason).toMatch(/3 restarts/);
    await g.app.inject({
      method: "POST",
      url: "/api/revive",
      headers: { authorization: `Bearer ${TOKENS.operator}` },
      payload: { agent: "trapper" },
    });
    await until(() => of(events, "emitted").some((e) => e.re === pending.env.id), 10_000, "served after revive");
    await a.settleFacts();
    expect(readFacts(a.config.factsDir).some((f) => f.type === "agent-failed" && f.fields.agent === "trapper")).toBe(
      true,
    );
  });

  it("supervision - a component that never returns is stopped by the deadline; other agents and the kill switch are not stalled", async () => {
    await using a = await startAgora({
      channels: ["work", "other"],
      agents: {
        spinner: { component: fixtureWasm("spinner"), read: ["work"], write: ["work"] },
        responder: { component: agentWasm("responder"), read: ["other"], write: ["other"] },
      },
      external: { maintainer: { write: ["work", "other"] }, operator: { write: ["work"] } },
      limits: { callDeadline: "400ms", maxDeliver: 2, restartBackoff: "10ms" },
    });
    const events: HostEvent[] = [];
    const host = await a.startHost();
    collectEvents(host, events);
    const g = await a.startGateway();
    const m = await a.client("maintainer");
    const spin = await m.send("work", "request", {});
    await until(() => of(events, "delivered").some((e) => e.id === spin.env.id), 5000, "spin started");
    // While the spinner spins, the main thread answers the gateway and the kill switch at once.
    const t0 = performance.now();
    const kill = await g.app.inject({
      method: "POST",
      url: "/api/kill",
      headers: { authorization: `Bearer ${TOKENS.operator}` },
      payload: { agent: "responder" },
    });
    const killMs = performance.now() - t0;
    expect(kill.statusCode).toBe(200);
    expect(host.killed("responder")).toBe(true);
    await g.app.inject({
      method: "POST",
      url: "/api/revive",
      headers: { authorization: `Bearer ${TOKENS.operator}` },
      payload: { agent: "responder" },
    });
    const other = await m.send("other", "request", {});
    await until(
      () => of(events, "emitted").some((e) => e.re === other.env.id),
      10_000,
      "responder served during/after the spin",
    );
    await until(
      () => of(events, "dead_lettered").some((e) => e.id === spin.env.id),
      10_000,
      "spinning message dead-lettered",
    );
    const deadlines = of(events, "failed").filter((e) => e.id === spin.env.id);
    expect(deadlines.map((e) => e.code)).toEqual(["AGORA_ERR_DEADLINE", "AGORA_ERR_DEADLINE"]);
    // The spinner was restarted and serves other acts again.
    const ok = await m.send("work", "inform", {});
    await until(() => of(events, "emitted").some((e) => e.re === ok.env.id), 10_000, "spinner back");
    console.log(
      `deadline: kill switch answered in ${killMs.toFixed(1)} ms while a component spun; the spinning call was stopped after 400 ms, twice, then dead-lettered`,
    );
    expect(killMs).toBeLessThan(1000);
  });

  it("supervision - a per-agent linear-memory limit is enforced", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: { hog: { component: fixtureWasm("hog"), read: ["work"], write: ["work"], memoryMb: 16 } as never },
      external: { maintainer: { write: ["work"] } },
      limits: { maxDeliver: 1, restartBackoff: "10ms" },
    });
    const events: HostEvent[] = [];
    collectEvents(await a.startHost(), events);
    const m = await a.client("maintainer");
    const rssBefore = process.memoryUsage().rss;
    const hog = await m.send("work", "request", {});
    await until(() => of(events, "dead_lettered").some((e) => e.id === hog.env.id), 20_000, "hog stopped");
    const grew = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
    const failure = of(events, "failed").find((e) => e.id === hog.env.id)!;
    console.log(
      `memory limit: hog stopped with ${failure.code} (${failure.error.slice(0, 80)}); process RSS grew ${grew.toFixed(0)} MiB against a 16 MiB agent limit`,
    );
    expect(grew).toBeLessThan(256);
    const fine = await m.send("work", "inform", {});
    await until(() => of(events, "emitted").some((e) => e.re === fine.env.id), 10_000, "hog serves again");
    const info = await a.infra.jsm.consumers.info(STREAM, consumerName("hog", "work"));
    expect(info.num_pending).toBe(0);
  });
});
