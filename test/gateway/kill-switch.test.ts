// The kill switch: out of band, within 100 ms with ≥ 10,000 messages queued, and
// sticky across host restarts until revived.
import { describe, expect, it } from "vitest";
import type { HostEvent } from "../../protocol/events.js";
import { collectEvents, readFacts, responderAndVoter, startAgora, TOKENS, until } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";
import { STREAM } from "../../protocol/subjects.js";
import { consumerName } from "../../protocol/subjects.js";

const op = { authorization: `Bearer ${TOKENS.operator}` };
const now = () => performance.timeOrigin + performance.now();

describe("kill switch", () => {
  it("kill switch - no delivery starts more than 100 ms after the kill returns, with ≥ 10,000 queued; killed survives a restart until revived", async () => {
    await using a = await startAgora({
      channels: ["flood"],
      agents: { voter: { component: agentWasm("voter"), read: ["flood"], write: ["flood"] } },
      external: { operator: { write: ["flood"] }, flooder: { write: ["flood"] } },
    });
    await a.startRecorder();
    const events: HostEvent[] = [];
    collectEvents(await a.startHost(), events);
    const g = await a.startGateway();
    const flooder = await a.client("flooder");
    const N = 12_000;
    for (let i = 0; i < N; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, N - i) }, (_, j) =>
          flooder.send("flood", "inform", { n: i + j }, { hop: 0 }),
        ),
      );
    }
    const delivered = () =>
      events.filter((e): e is Extract<HostEvent, { type: "delivered" }> => e.type === "delivered");
    await until(() => delivered().length >= 50, 20_000, "deliveries to start");
    const info = await a.infra.jsm.consumers.info(STREAM, consumerName("voter", "flood"));
    const queued = info.num_pending + info.num_ack_pending;

    const called = now();
    const res = await g.app.inject({ method: "POST", url: "/api/kill", headers: op, payload: { agent: "voter" } });
    const returned = now();
    expect(res.statusCode).toBe(200);
    expect(res.json().hosts).toEqual(["host"]);
    await new Promise((r) => setTimeout(r, 1500));
    const after = delivered().filter((e) => e.at > returned);
    const lastStart = delivered().reduce((m, e) => Math.max(m, e.at), 0);
    const lateness = Math.max(0, lastStart - returned);
    console.log(
      `kill switch: ${queued} messages queued at the kill; kill call took ${(returned - called).toFixed(1)} ms; ` +
        `${after.length} deliveries started after it returned; last delivery started ${(lastStart - called).toFixed(1)} ms after the call, ${lateness.toFixed(1)} ms after the return`,
    );
    expect(queued).toBeGreaterThanOrEqual(10_000);
    expect(lateness).toBeLessThanOrEqual(100);
    const handledAtKill = delivered().length;

    // Killed stays killed across a host restart.
    await a.stopHost();
    collectEvents(await a.startHost(), events);
    await new Promise((r) => setTimeout(r, 1500));
    expect(delivered().length).toBe(handledAtKill);
    const agents = (await g.app.inject({ url: "/api/agents", headers: op })).json() as {
      name: string;
      status: string;
    }[];
    expect(agents.find((x) => x.name === "voter")?.status).toBe("killed");

    // Revive: deliveries resume where they stopped.
    const revive = await g.app.inject({ method: "POST", url: "/api/revive", headers: op, payload: { agent: "voter" } });
    expect(revive.statusCode).toBe(200);
    await until(() => delivered().length >= handledAtKill + 100, 20_000, "deliveries after revive");
    await a.settleFacts();
    const facts = readFacts(a.config.factsDir);
    expect(facts.some((f) => f.type === "killed" && f.fields.agent === "voter")).toBe(true);
    expect(facts.some((f) => f.type === "revived" && f.fields.agent === "voter")).toBe(true);
    // nothing travelled through a channel: no speech act from the operator
    expect(facts.some((f) => f.type === "speech-act" && f.fields.sender === "operator")).toBe(false);
  });

  it('kill switch - kill "*" stops every agent; a control not signed by the gateway identity is ignored', async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: {
        responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] },
        voter: { component: agentWasm("voter"), read: ["work"], write: ["work"] },
      },
      external: { operator: { write: ["work"] }, maintainer: { write: ["work"] } },
    });
    const host = await a.startHost();
    const g = await a.startGateway();
    // A forged control from an identity that is not the gateway's.
    const { makeControl } = await import("../../trust/control.js");
    const m = await a.client("maintainer");
    const forged = makeControl("kill", "*", { name: "maintainer", key: m.identity.privateKey });
    const ack = await a.nc.request("agora.ctl.kill", JSON.stringify(forged), { timeout: 300 }).catch(() => undefined);
    expect(ack).toBeUndefined();
    expect(host.killed("responder")).toBe(false);
    const res = await g.app.inject({ method: "POST", url: "/api/kill", headers: op, payload: { agent: "*" } });
    expect(res.json().hosts).toHaveLength(1);
    expect(host.killed("responder") && host.killed("voter")).toBe(true);
    expect(
      (await g.app.inject({ method: "POST", url: "/api/kill", headers: op, payload: { agent: "ghost" } })).statusCode,
    ).toBe(400);
    await g.app.inject({ method: "POST", url: "/api/revive", headers: op, payload: { agent: "*" } });
    expect(host.killed("responder") || host.killed("voter")).toBe(false);
  });
});

describe("kill switch - keys", () => {
  it("kill switch - a key swapped or deleted in KV can neither forge controls nor disable the switch", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: { responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] } },
      external: { operator: { write: ["work"] } },
    });
    const host = await a.startHost();
    const g = await a.startGateway(); // registers (and pins) the operator key
    const { generateRawKeyPair, privateKeyObject } = await import("../../trust/signing.js");
    const { makeControl } = await import("../../trust/control.js");
    const attacker = generateRawKeyPair();
    await a.infra.keys.put("operator", attacker.publicKey); // swap the controller's key in KV
    await new Promise((r) => setTimeout(r, 200));
    const forged = makeControl("kill", "*", { name: "operator", key: privateKeyObject(attacker) });
    expect(
      await a.nc.request("agora.ctl.kill", JSON.stringify(forged), { timeout: 300 }).catch(() => undefined),
    ).toBeUndefined();
    expect(host.killed("responder")).toBe(false);
    await a.infra.keys.delete("operator"); // try to switch the kill switch off
    await new Promise((r) => setTimeout(r, 200));
    const res = await g.app.inject({ method: "POST", url: "/api/kill", headers: op, payload: { agent: "responder" } });
    expect(res.json().hosts).toEqual(["host"]);
    expect(host.killed("responder")).toBe(true);
  });

  it("kill switch - revive * and single revives mean the same on the host and in the console", async () => {
    await using a = await startAgora(responderAndVoter("operator"));
    const host = await a.startHost();
    const g = await a.startGateway();
    const call = (verb: string, agent: string) =>
      g.app.inject({ method: "POST", url: `/api/${verb}`, headers: op, payload: { agent } });
    const consoleStatus = async () =>
      Object.fromEntries(
        ((await g.app.inject({ url: "/api/agents", headers: op })).json() as { name: string; status: string }[])
          .filter((x) => x.name !== "operator")
          .map((x) => [x.name, x.status]),
      );
    const hostStatus = () => ({
      responder: host.killed("responder") ? "killed" : "running",
      voter: host.killed("voter") ? "killed" : "running",
    });
    for (const [verb, agent, expected] of [
      ["kill", "voter", { responder: "running", voter: "killed" }],
      ["revive", "*", { responder: "running", voter: "running" }],
      ["kill", "*", { responder: "killed", voter: "killed" }],
      ["revive", "voter", { responder: "killed", voter: "running" }],
      ["revive", "*", { responder: "running", voter: "running" }],
    ] as const) {
      await call(verb, agent);
      expect(hostStatus(), `${verb} ${agent}`).toEqual(expected);
      await until(
        async () => JSON.stringify(await consoleStatus()) === JSON.stringify(expected),
        5000,
        `console after ${verb} ${agent}`,
      );
    }
  });
});
