// Timers in the agora:agent world: a component asks to be woken, the host fires
// the timer once as a host-signed `inform` answering the message that set it,
// durably (across a host restart), capped per agent, and every step is a fact.
import { describe, expect, it } from "vitest";
import type { HostEvent } from "../../protocol/events.js";
import { verifyFacts } from "../../facts/verify.js";
import { Host } from "../../host/host.js";
import { collectEvents, readFacts, startAgora, until, type TestAgora } from "../helpers/agora.js";
import { fixtureWasm } from "../helpers/paths.js";

const spec = {
  channels: ["work", "out"],
  agents: { alarm: { component: fixtureWasm("alarm"), read: ["work"], write: ["out"] } },
  external: { maintainer: { write: ["work"] } },
  limits: { maxTimers: 3 },
};

/** What the alarm said on `out`, from the facts: body and `re` of each act. */
async function said(a: TestAgora): Promise<{ act: string; re: string; body: Record<string, unknown> }[]> {
  await a.settleFacts();
  return readFacts(a.config.factsDir)
    .filter((f) => f.type === "speech-act" && f.fields.sender === "alarm")
    .map((f) => ({
      act: String(f.fields.act),
      re: String(f.fields.re),
      body: JSON.parse(String(f.fields.body)) as Record<string, unknown>,
    }));
}

const fired = (events: HostEvent[]) => events.filter((e) => e.type === "delivered" && e.act === "inform");

describe("timers", () => {
  it("timers - a timer fires once as a host-signed inform answering the message that set it; cancel and the cap hold; each step is a fact", async () => {
    await using a = await startAgora(spec);
    await a.startRecorder();
    const events: HostEvent[] = [];
    collectEvents(await a.startHost(), events);
    const m = await a.client("maintainer");

    const set = (await m.send("work", "request", { set: "a", ms: 300 })).env;
    await until(() => fired(events).length >= 1, 10_000, "the timer to fire");
    const b = (await m.send("work", "request", { set: "b", ms: 400 })).env;
    await m.send("work", "request", { cancel: "b" });
    await new Promise((r) => setTimeout(r, 1000)); // b would have fired by now
    expect(fired(events)).toHaveLength(1);
    const fill = (await m.send("work", "request", { fill: 5 })).env;
    await until(() => events.some((e) => e.type === "emitted" && e.re === fill.id), 10_000, "the fill answer");

    // Timer facts are recorded off the agent's path: wait for the fill's three.
    await until(
      async () => (await said(a), readFacts(a.config.factsDir).filter((f) => f.type === "timer-set").length >= 5),
      10_000,
      "the timers' facts",
    );
    const acts = await said(a);
    const timeout = acts.find((x) => x.body.fired === "a")!;
    expect(timeout.body.from).toBe(a.config.host.name); // signed by the host that fired it
    expect(Number(timeout.body.now)).toBeGreaterThanOrEqual(Number(timeout.body.due)); // not early
    const agreed = acts.find((x) => x.re === set.id)!;
    expect(Number(timeout.body.due) - Number(agreed.body.now)).toBe(300); // due = the call's host time + ms
    expect(acts.filter((x) => x.body.fired === "b")).toHaveLength(0);
    expect(acts.find((x) => x.re === fill.id)!.body).toMatchObject({
      refused: 2,
      error: expect.stringMatching(/AGORA_ERR_TIMER_LIMIT: this agent already has 3 timers waiting/),
    }); // limits.maxTimers 3: a fired, b cancelled, so 3 of 5 were taken
    expect(acts.find((x) => x.re === b.id)?.act).toBe("agree");

    const facts = readFacts(a.config.factsDir);
    const firedFacts = facts.filter((f) => f.type === "timer-fired");
    expect(firedFacts).toHaveLength(1);
    expect(JSON.parse(String(firedFacts[0]!.fields.event))).toMatchObject({ tag: "a", set: set.id, channel: "work" });
    expect(facts.filter((f) => f.type === "timer-set").map((f) => JSON.parse(String(f.fields.event)).tag)).toEqual([
      "a",
      "b",
      "fill-0",
      "fill-1",
      "fill-2",
    ]);
    expect(facts.filter((f) => f.type === "timer-cancelled")).toHaveLength(1);
    expect(verifyFacts(a.config.factsDir).problems).toEqual([]);
    // The three fill timers wait in KV for an hour.
    let waiting = 0;
    for await (const _ of await a.infra.timers.keys()) waiting++;
    expect(waiting).toBe(3);
  });

  it("timers - a timer set before a host restart fires once after it, from KV", async () => {
    await using a = await startAgora(spec);
    await a.startRecorder();
    const events: HostEvent[] = [];
    collectEvents(await a.startHost(), events);
    const m = await a.client("maintainer");
    const set = (await m.send("work", "request", { set: "later", ms: 1500 })).env;
    await until(() => events.some((e) => e.type === "emitted" && e.re === set.id), 10_000, "the timer to be set");
    await a.stopHost(); // down while the timer comes due
    await new Promise((r) => setTimeout(r, 2000));
    expect(fired(events)).toHaveLength(0);
    await a.startHost(); // the overdue timer may fire while the agent starts: read what happened from the facts
    await until(async () => (await said(a)).some((x) => x.body.fired === "later"), 10_000, "the timer to fire");
    await new Promise((r) => setTimeout(r, 1000));
    const acts = await said(a);
    expect(acts.filter((x) => x.body.fired === "later")).toHaveLength(1);
    expect(readFacts(a.config.factsDir).filter((f) => f.type === "timer-fired")).toHaveLength(1);
    expect(verifyFacts(a.config.factsDir).problems).toEqual([]);
  });

  it("timers - a timer moves with its agent: set on one host, fired once by the host the agent was handed to", async () => {
    await using a = await startAgora({ ...spec, hosts: ["h2"], limits: { ...spec.limits, leaseTtl: "2s" } });
    await a.startRecorder();
    const events: HostEvent[] = [];
    const h1 = await a.startHost();
    collectEvents(h1, events);
    expect(h1.placed()).toEqual(["alarm"]);
    const m = await a.client("maintainer");
    const set = (await m.send("work", "request", { set: "moved", ms: 2500 })).env;
    await until(() => events.some((e) => e.type === "emitted" && e.re === set.id), 10_000, "the timer to be set");
    const h2 = await Host.start({
      config: { ...a.config, host: { ...a.config.host, name: "h2" } },
      nc: await a.connect("h2"),
    });
    try {
      await a.stopHost(); // h1 hands the agent over on its way out
      await until(() => h2.placed().includes("alarm"), 10_000, "the agent on h2");
      await until(async () => (await said(a)).some((x) => x.body.fired === "moved"), 15_000, "the timer to fire");
      await new Promise((r) => setTimeout(r, 1000));
      expect((await said(a)).filter((x) => x.body.fired === "moved")).toHaveLength(1);
      const firedFacts = readFacts(a.config.factsDir).filter((f) => f.type === "timer-fired");
      expect(firedFacts.map((f) => f.fields.host)).toEqual(["h2"]);
      expect(verifyFacts(a.config.factsDir).problems).toEqual([]);
    } finally {
      await h2.close();
    }
  });
});
