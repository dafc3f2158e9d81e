import { describe, expect, it } from "vitest";
import type { HostEvent } from "../../protocol/events.js";
import { stateKey } from "../../protocol/subjects.js";
import { collectEvents, startAgora, until } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";

describe("lazy instances", () => {
  it("host - with limits.instanceIdle agents are instantiated on their first message, dropped when idle, and come back with their state from KV", async () => {
    await using a = await startAgora({
      channels: ["a", "b", "votes"],
      agents: {
        "responder-a": { component: agentWasm("responder"), read: ["a"], write: ["a"] },
        "responder-b": { component: agentWasm("responder"), read: ["b"], write: ["b"] },
        voter: { component: agentWasm("voter"), read: ["votes"], write: ["votes"] },
      },
      external: { alice: { write: ["a", "b", "votes"] } },
      limits: { instanceIdle: "400ms" },
    });
    const events: HostEvent[] = [];
    const host = await a.startHost();
    collectEvents(host, events);
    expect(host.runtimes.size).toBe(3);
    expect(host.instances()).toBe(0);
    const alice = await a.client("alice");
    const answered = (re: string) => events.some((e) => e.type === "emitted" && e.re === re);

    const first = await alice.send("a", "request", {}, { hop: 2 });
    await until(() => answered(first.env.id), 10_000, "first answer");
    expect(host.instances()).toBe(1);
    await until(() => host.instances() === 0, 5_000, "the idle instance dropped");

    const vote = await alice.send("votes", "propose", { cost: 1 }, { hop: 2 });
    await until(() => answered(vote.env.id), 10_000, "first vote");
    await until(() => host.instances() === 0, 5_000, "the voter dropped");
    const again = await alice.send("votes", "propose", { cost: 2 }, { hop: 2 });
    await until(() => answered(again.env.id), 10_000, "second vote");
    // The second instance counted on from the state the first committed.
    expect((await a.infra.state.get(stateKey("voter", "votes")))?.string()).toBe("2");
    expect(events.filter((e) => e.type === "failed")).toEqual([]);
  }, 60_000);
});
