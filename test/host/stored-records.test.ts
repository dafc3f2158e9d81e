// A bad record beside the stream is refused, never a crash: junk agent status,
// leases, host records and write-ahead logs are ignored by whoever reads them.
import { describe, expect, it } from "vitest";
import { readPlacement } from "../../host/placement/leases.js";
import { hostKey, leaseKey, walKey } from "../../protocol/subjects.js";
import { readFacts, startAgora, TOKENS, until } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";

describe("stored records", () => {
  it("stored records - junk in agora-agents, agora-leases and a WAL entry: host, placement and gateway carry on", async () => {
    await using a = await startAgora({
      channels: ["build-coord"],
      agents: { responder: { component: agentWasm("responder"), read: ["build-coord"], write: ["build-coord"] } },
      external: { maintainer: { write: ["build-coord"] } },
    });
    await a.infra.agents.put("responder", "not json {");
    await a.infra.agents.put("ghost", JSON.stringify({ status: "running" }));
    await a.infra.leases.put(hostKey("junk"), "\u0000\u0001");
    await a.infra.leases.put(leaseKey("nobody"), JSON.stringify({ host: "Not A Name" }));
    await a.infra.processed.put(walKey("responder"), "[1,2,3]");

    await a.startRecorder();
    const host = await a.startHost();
    expect(host.placed()).toEqual(["responder"]);
    const placement = await readPlacement(a.infra.leases);
    expect([...placement.hosts.keys()]).toEqual([a.config.host.name]);
    expect([...placement.leases.keys()]).toEqual(["responder"]);

    const client = await a.client("maintainer");
    await client.send("build-coord", "request", { task: "build" });
    await until(() => host.counters.emitted >= 1, 10_000, "the responder to answer");

    const g = await a.startGateway();
    await a.infra.agents.put("responder", "still not json");
    const res = await g.app.inject({ url: "/api/agents", headers: { authorization: `Bearer ${TOKENS.viewer}` } });
    expect(res.statusCode).toBe(200);
    const responder = (res.json() as { name: string; status: string }[]).find((x) => x.name === "responder");
    expect(responder?.status).toBe("running"); // the last well-formed report stands
    expect((await g.app.inject({ url: "/readyz" })).statusCode).toBe(200);

    // Each refusal is a coded, host-signed fact (once per record: the event id is stable).
    await a.settleFacts();
    const refused = readFacts(a.config.factsDir)
      .filter((f) => f.type === "record-refused")
      .map((f) => JSON.parse(String(f.fields.event)) as { key: string; code: string; bucket: string });
    expect(refused.map((r) => r.key).sort()).toEqual([hostKey("junk"), leaseKey("nobody"), walKey("responder")].sort());
    expect(refused.every((r) => r.code === "AGORA_ERR_BAD_RECORD")).toBe(true);
  });
});
