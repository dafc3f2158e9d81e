// Placement by lease: the target assignment, drain/undrain through the gateway,
// a second live host under a taken name, and a key that differs between hosts.
import { describe, expect, it } from "vitest";
import { Host } from "../../host/host.js";
import { KeyStore } from "../../trust/key-store.js";
import { startAgora, TOKENS, until } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";
import { isAgoraError } from "../../protocol/errors.js";
import { readPlacement } from "../../host/placement/leases.js";
import { assign } from "../../host/placement/assign.js";
import { leaseKey } from "../../protocol/subjects.js";

const ALL = ["a", "b", "c", "d"];

describe("placement - assign", () => {
  it("placement - spreads agents evenly, keeps them where they run, respects what a host may run", () => {
    const both = new Map([
      ["h1", ALL],
      ["h2", ALL],
    ]);
    const fresh = assign(ALL, both, new Map());
    expect([...fresh.values()].filter((h) => h === "h1")).toHaveLength(2);
    // A new host takes a share, but agents under the fair share stay where they are.
    const moved = assign(ALL, both, new Map(ALL.map((a) => [a, "h1"])));
    expect([...moved].filter(([, h]) => h === "h2").map(([a]) => a)).toEqual(["c", "d"]);
    expect(
      assign(
        ALL,
        both,
        new Map([
          ["a", "h2"],
          ["b", "h2"],
          ["c", "h1"],
          ["d", "h1"],
        ]),
      ),
    ).toEqual(
      new Map([
        ["a", "h2"],
        ["b", "h2"],
        ["c", "h1"],
        ["d", "h1"],
      ]),
    );
    // h2 may only run d: everything else goes to h1 even above its share.
    expect(
      assign(
        ALL,
        new Map([
          ["h1", ALL],
          ["h2", ["d"]],
        ]),
        new Map(),
      ),
    ).toEqual(
      new Map([
        ["a", "h1"],
        ["b", "h1"],
        ["c", "h1"],
        ["d", "h2"],
      ]),
    );
    // No live host may run x: it has no target. No hosts at all: nothing.
    expect(assign(["x"], new Map([["h1", ALL]]), new Map()).has("x")).toBe(false);
    expect(assign(ALL, new Map(), new Map()).size).toBe(0);
  });
});

describe("placement - one NATS, real hosts", () => {
  it("placement - a drain through the gateway hands every agent over and keeps the host empty; undrain takes them back", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: {
        r1: { component: agentWasm("responder"), read: ["work"], write: ["work"] },
        r2: { component: agentWasm("responder"), read: ["work"], write: ["work"] },
      },
      external: { operator: { write: ["work"] } },
      limits: { leaseTtl: "2s" },
    });
    const host = await a.startHost();
    expect(host.placed().sort()).toEqual(["r1", "r2"]);
    expect([...(await readPlacement(a.infra.leases)).leases.values()].map((l) => l.host)).toEqual(["host", "host"]);
    const app = (await a.startGateway()).app;
    const op = { authorization: `Bearer ${TOKENS.operator}` };
    expect(
      (await app.inject({ method: "POST", url: "/api/drain", headers: op, payload: { host: "no such host!" } }))
        .statusCode,
    ).toBe(400);
    const drain = await app.inject({ method: "POST", url: "/api/drain", headers: op, payload: { host: "host" } });
    expect(drain.statusCode, drain.body).toBe(200);
    expect(drain.json()).toMatchObject({ host: "host", verb: "drain", hosts: ["host"] });
    await until(() => host.placed().length === 0 && host.runtimes.size === 0, 10_000, "hand-over");
    expect((await a.infra.leases.get(leaseKey("r1")))?.operation ?? "gone").not.toBe("PUT");
    expect((await readPlacement(a.infra.leases)).hosts.get("host")?.draining).toBe(true);
    // Drained: it does not take the free agents back on its own.
    await new Promise((r) => setTimeout(r, 1500));
    expect(host.placed()).toEqual([]);
    await app.inject({ method: "POST", url: "/api/undrain", headers: op, payload: { host: "host" } });
    await until(() => host.placed().length === 2 && host.runtimes.size === 2, 10_000, "agents back");
    const events: { agent: string; re?: string }[] = [];
    void (async () => {
      for await (const e of host.events.subscribe()) if (e.type === "emitted") events.push(e);
    })();
    const m = await a.client("operator");
    const { env } = await m.send("work", "request", { after: "undrain" });
    await until(() => events.filter((e) => e.re === env.id).length === 2, 10_000, "both replying again");
  });

  it("placement - an agent whose component cannot load on one host runs on another that can", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: { r1: { component: agentWasm("responder"), read: ["work"], write: ["work"] } },
      limits: { leaseTtl: "2s" },
    });
    const logs: string[] = [];
    const broken = {
      ...a.config,
      host: { ...a.config.host, name: "h-broken" },
      agents: a.config.agents.map((x) => ({ ...x, component: `${a.dir}/missing.wasm` })),
    };
    const bad = await Host.start({ config: broken, nc: a.nc, log: (l) => logs.push(l) });
    try {
      expect(bad.runtimes.size).toBe(0);
      expect(logs.join("\n")).toMatch(/r1: not started on h-broken: AGORA_ERR_COMPONENT_LOAD.*lease given back/);
      const good = await a.startHost();
      await until(() => good.runtimes.has("r1"), 15_000, "r1 on the host that can load it");
      expect(bad.placed()).toEqual([]);
    } finally {
      await bad.close();
    }
  });

  it("placement - a second live process with a taken host name is refused; a host with another key for an agent does not run it", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: { r1: { component: agentWasm("responder"), read: ["work"], write: ["work"] } },
      limits: { leaseTtl: "2s" },
    });
    const first = await a.startHost();
    const twin = await Host.start({ config: a.config, nc: a.nc, agents: [] }).catch((err: unknown) => err);
    expect(isAgoraError(twin, "AGORA_ERR_HOST_NAME_TAKEN"), String(twin)).toBe(true);
    await a.stopHost();
    expect(first.placed()).toEqual([]);
    // Another host whose key directory holds a different key for r1: it refuses to run it.
    const other = { ...a.config, host: { ...a.config.host, name: "h2" }, keysDir: `${a.dir}/other-keys` };
    new KeyStore(other.keysDir).generate("r1");
    const logs: string[] = [];
    const h2 = await Host.start({ config: other, nc: a.nc, log: (l) => logs.push(l) });
    try {
      expect(h2.runtimes.size).toBe(0);
      expect(logs.join("\n")).toMatch(/AGORA_ERR_KEY_INVALID|different key for agent r1/);
    } finally {
      await h2.close();
    }
  });
});
