// The six controls (docs/architecture.md), each positive and negative, on a real nats-server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateRawKeyPair, privateKeyObject, signEnvelope } from "../../trust/signing.js";
import { encodeEnvelope, type Envelope } from "../../protocol/envelope.js";
import type { HostEvent } from "../../protocol/events.js";
import { readFacts, startAgora, until, type TestAgora } from "../helpers/agora.js";
import { agentWasm, fixtureWasm } from "../helpers/paths.js";

let a: TestAgora;
const events: HostEvent[] = [];

const facts = () => readFacts(a.config.factsDir);

/** Publish raw bytes on a subject, then a valid sentinel request; resolve when the responder has handled the sentinel. */
async function thenSentinel(subject: string, data: Uint8Array | string): Promise<void> {
  await a.infra.js.publish(subject, data);
  const m = await a.client("maintainer");
  const { env } = await m.send("build-coord", "request", { sentinel: true });
  await until(
    () => events.some((e) => e.type === "delivered" && e.agent === "responder" && e.id === env.id),
    10_000,
    "sentinel",
  );
}

async function signedBy(name: string, patch: Partial<Envelope> = {}): Promise<Envelope> {
  const c = await a.client(name);
  return signEnvelope(c.identity.privateKey, {
    v: 1,
    id: `x${Math.random().toString(36).slice(2)}`,
    channel: "build-coord",
    sender: name,
    act: "request",
    body: { n: 1 },
    hop: 3,
    ts: new Date().toISOString(),
    ...patch,
  });
}

function handledIds(agent: string): string[] {
  return events.filter((e) => e.type === "delivered" && e.agent === agent).map((e) => (e as { id: string }).id);
}

beforeAll(async () => {
  a = await startAgora({
    channels: ["build-coord", "other", "secret-ops"],
    agents: {
      responder: { component: agentWasm("responder"), read: ["build-coord", "other"], write: ["build-coord", "other"] },
      rogue: { component: fixtureWasm("rogue"), read: ["other"], write: ["other"] },
      "wasi-agent": { component: fixtureWasm("wasi-importer"), read: ["build-coord"], write: ["build-coord"] },
    },
    external: { maintainer: { write: ["build-coord", "other", "secret-ops"] }, outsider: { write: [] } },
    limits: { dedupWindow: "1s" },
  });
  await a.startRecorder();
  const host = await a.startHost();
  void (async () => {
    for await (const e of host.events.subscribe()) events.push(e);
  })();
});

afterAll(async () => {
  await a?.close();
});

describe("controls - signature", () => {
  it("controls - a valid signature is delivered", async () => {
    const env = await signedBy("maintainer");
    await thenSentinel("agora.ch.build-coord", encodeEnvelope(env));
    expect(handledIds("responder")).toContain(env.id);
  });

  it("controls - a forged signature is rejected, recorded, never delivered", async () => {
    const env = { ...(await signedBy("maintainer")), body: { n: 2 } }; // signature covers n: 1
    const before = a.host!.counters.rejected;
    await thenSentinel("agora.ch.build-coord", encodeEnvelope(env));
    expect(handledIds("responder")).not.toContain(env.id);
    expect(a.host!.counters.rejected).toBeGreaterThan(before);
    await a.settleFacts();
    const f = facts().find((x) => x.type === "rejected" && x.fields["envelope-id"] === env.id);
    expect(f?.fields.code).toBe("AGORA_ERR_BAD_SIGNATURE");
  });

  it("controls - one agent's signature under another's name is rejected", async () => {
    const real = await signedBy("maintainer");
    const env = { ...real, sender: "outsider" }; // maintainer's sig, outsider's name
    await a.client("outsider");
    await thenSentinel("agora.ch.build-coord", encodeEnvelope(env));
    expect(handledIds("responder")).not.toContain(env.id);
  });

  it("controls - an unknown sender is rejected with AGORA_ERR_UNKNOWN_SENDER", async () => {
    const pair = generateRawKeyPair();
    const env = signEnvelope(privateKeyObject(pair), {
      v: 1,
      id: "ghost-1",
      channel: "build-coord",
      sender: "ghost",
      act: "request",
      body: {},
      hop: 3,
      ts: new Date().toISOString(),
    });
    await thenSentinel("agora.ch.build-coord", encodeEnvelope(env));
    expect(handledIds("responder")).not.toContain("ghost-1");
    await a.settleFacts();
    expect(facts().find((x) => x.fields["envelope-id"] === "ghost-1")?.fields.code).toBe("AGORA_ERR_UNKNOWN_SENDER");
  });

  it("controls - subject/channel mismatch is rejected", async () => {
    const env = await signedBy("maintainer", { channel: "build-coord" });
    await thenSentinel("agora.ch.other", encodeEnvelope(env)); // responder reads `other` too
    expect(handledIds("responder")).not.toContain(env.id);
    await a.settleFacts();
    expect(facts().find((x) => x.type === "rejected" && x.fields["envelope-id"] === env.id)?.fields.code).toBe(
      "AGORA_ERR_CHANNEL_MISMATCH",
    );
  });

  it("controls - an oversized envelope is rejected with AGORA_ERR_TOO_LARGE", async () => {
    const env = await signedBy("maintainer", { body: "x".repeat(70 * 1024) });
    await thenSentinel("agora.ch.build-coord", encodeEnvelope(env));
    expect(handledIds("responder")).not.toContain(env.id);
    await a.settleFacts();
    expect(facts().some((x) => x.type === "rejected" && x.fields.code === "AGORA_ERR_TOO_LARGE")).toBe(true);
  });

  it("controls - malformed JSON and wrong types are rejected, the host stays up", async () => {
    await thenSentinel("agora.ch.build-coord", "{not json");
    await thenSentinel("agora.ch.build-coord", new Uint8Array([0xff, 0xfe, 0x00, 0x01]));
    await thenSentinel("agora.ch.build-coord", JSON.stringify({ v: 1, id: 5, channel: "build-coord" }));
    await thenSentinel("agora.ch.build-coord", JSON.stringify({ ...(await signedBy("maintainer")), hop: 17 }));
    await a.settleFacts();
    const codes = facts()
      .filter((x) => x.type === "rejected")
      .map((x) => x.fields.code);
    expect(codes).toContain("AGORA_ERR_BAD_JSON");
    expect(codes).toContain("AGORA_ERR_BAD_ENVELOPE");
  });

  it("controls - a sender without a write grant on the channel is rejected", async () => {
    const env = await signedBy("outsider");
    await thenSentinel("agora.ch.build-coord", encodeEnvelope(env));
    expect(handledIds("responder")).not.toContain(env.id);
    await a.settleFacts();
    expect(facts().find((x) => x.fields["envelope-id"] === env.id && x.type === "rejected")?.fields.code).toBe(
      "AGORA_ERR_NOT_GRANTED",
    );
  });
});

describe("controls - capability scoping", () => {
  it("controls - a component cannot reach an ungranted channel; the attempt is a blocked fact", async () => {
    const m = await a.client("maintainer");
    const { env } = await m.send("other", "request", { secret: "payload" });
    await until(() => events.some((e) => e.type === "emitted" && e.agent === "rogue"), 10_000, "rogue reply");
    const blocked = events.filter((e) => e.type === "blocked" && e.agent === "rogue" && e.id === env.id);
    expect(blocked).toHaveLength(1);
    expect(blocked[0]).toMatchObject({ target: "secret-ops", code: "AGORA_ERR_NOT_GRANTED", id: env.id });
    const emittedChannels = new Set(
      events.filter((e) => e.type === "emitted" && e.agent === "rogue").map((e) => (e as { channel: string }).channel),
    );
    expect([...emittedChannels]).toEqual(["other"]);
    await a.settleFacts();
    expect(facts().filter((x) => x.type === "speech-act" && x.fields.channel === "secret-ops")).toHaveLength(0);
    expect(facts().some((x) => x.type === "blocked" && x.fields.agent === "rogue")).toBe(true);
  });

  it("controls - a component importing WASI is refused at load, others keep running", async () => {
    expect(a.host!.runtimes.has("wasi-agent")).toBe(false);
    expect(a.host!.runtimes.has("responder")).toBe(true);
    expect(a.host!.counters.agent_refused).toBeGreaterThanOrEqual(1); // retried after a pause, in case another host can load it
    await a.settleFacts();
    const refused = facts().find((x) => x.type === "agent-refused");
    expect(refused?.fields.agent).toBe("wasi-agent");
    expect(JSON.parse(String(refused?.fields.event)).code).toBe("AGORA_ERR_COMPONENT_IMPORTS");
    expect(JSON.parse(String(refused?.fields.event)).reason).toMatch(/wasi:/);
  });
});

describe("controls - self-echo", () => {
  it("controls - self-echo is dropped on every channel", async () => {
    const m = await a.client("maintainer");
    const r1 = await m.send("build-coord", "request", { echo: 1 });
    const r2 = await m.send("other", "request", { echo: 2 });
    const reply = (re: string) =>
      events.find(
        (e): e is Extract<HostEvent, { type: "emitted" }> =>
          e.type === "emitted" && e.agent === "responder" && e.re === re,
      );
    await until(() => Boolean(reply(r1.env.id) && reply(r2.env.id)), 10_000, "replies");
    const ids = [reply(r1.env.id)!.id, reply(r2.env.id)!.id];
    await until(
      () => ids.every((id) => events.some((e) => e.type === "echo_dropped" && e.agent === "responder" && e.id === id)),
      10_000,
      "echo drops",
    );
    expect(
      events
        .filter((e) => e.type === "echo_dropped" && e.agent === "responder")
        .map((e) => (e as { channel: string }).channel),
    ).toEqual(expect.arrayContaining(["build-coord", "other"]));
    expect(handledIds("responder").some((id) => ids.includes(id))).toBe(false);
  });
});

describe("controls - hop budget", () => {
  it("controls - the host stamps hop = parent - 1 and sender/id itself", async () => {
    const m = await a.client("maintainer");
    const { env } = await m.send("build-coord", "request", {}, { hop: 5 });
    await until(() => events.some((e) => e.type === "emitted" && e.re === env.id), 10_000, "reply");
    const reply = events.find(
      (e): e is Extract<HostEvent, { type: "emitted" }> => e.type === "emitted" && e.re === env.id,
    )!;
    expect(reply.hop).toBe(4);
    expect(reply.agent).toBe("responder");
    expect(reply.id).toMatch(/^[A-Za-z0-9_-]{24}$/);
  });

  it("controls - what a component emits while handling hop 0 is dropped and recorded", async () => {
    const m = await a.client("maintainer");
    const { env } = await m.send("build-coord", "request", {}, { hop: 0 });
    await until(() => events.some((e) => e.type === "hop_exhausted" && e.id === env.id), 10_000, "hop_exhausted");
    expect(handledIds("responder")).toContain(env.id);
    expect(events.some((e) => e.type === "emitted" && e.re === env.id)).toBe(false);
    await a.settleFacts();
    expect(facts().some((x) => x.type === "hop-exhausted" && x.fields["envelope-id"] === env.id)).toBe(true);
  });
});

describe("controls - idempotency", () => {
  it("controls - a replay inside the dedup window is dropped by JetStream", async () => {
    const m = await a.client("maintainer");
    const first = await m.send("build-coord", "request", {}, { id: "replay-a" });
    const again = await m.send("build-coord", "request", {}, { id: "replay-a" });
    expect(first.ack.duplicate).toBe(false);
    expect(again.ack.duplicate).toBe(true);
  });

  it("controls - a replay after the dedup window is processed once per (agent, id)", async () => {
    const m = await a.client("maintainer");
    await m.send("build-coord", "request", { once: true }, { id: "replay-b" });
    await until(() => handledIds("responder").includes("replay-b"), 10_000, "first delivery");
    await new Promise((r) => setTimeout(r, 1200)); // past the 1 s test dedup window
    const again = await m.send("build-coord", "request", { once: true }, { id: "replay-b" });
    expect(again.ack.duplicate).toBe(false); // JetStream took it …
    await until(() => events.some((e) => e.type === "duplicate" && e.id === "replay-b"), 10_000, "duplicate");
    expect(handledIds("responder").filter((id) => id === "replay-b")).toHaveLength(1); // … the host did not hand it over again
  });
});
