// StreamPublisher: JetStream publishes through one reply subscription — acks, duplicates, a failed
// expectation as the API error kv.create gives, "no stream" as nats.js reports it, and a timeout.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isNotReady, isWrongRevision } from "../../transport/jetstream-errors.js";
import { StreamPublisher } from "../../transport/publisher.js";
import { startNats, type TestNats } from "../helpers/nats-server.js";

describe("StreamPublisher", () => {
  let nats: TestNats;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url, inboxPrefix: "_INBOX_tester" });
    await (await jetstreamManager(nc)).streams.add({ name: "S", subjects: ["s.>"], duplicate_window: 60_000_000_000 });
  });
  afterAll(async () => {
    await nc.close();
    await nats.close();
  });

  it("is one per connection, and answers under the connection's inbox prefix", async () => {
    expect(StreamPublisher.for(nc)).toBe(StreamPublisher.for(nc));
    const seen: string[] = [];
    const spy = nc.subscribe("_INBOX_tester.>", { callback: (_e, m) => void seen.push(m.subject) });
    await StreamPublisher.for(nc).publish("s.a", "x");
    spy.unsubscribe();
    expect(seen.length).toBe(1);
  });

  it("acks with the stream's sequence, as js.publish does; a repeated Nats-Msg-Id is a duplicate", async () => {
    const p = StreamPublisher.for(nc);
    const acks = await Promise.all(
      Array.from({ length: 50 }, (_, i) => p.publish("s.b", `m${i}`, { msgID: `id-${i}` })),
    );
    expect(new Set(acks.map((a) => a.seq)).size).toBe(50);
    expect(acks.every((a) => a.stream === "S" && a.duplicate === false)).toBe(true);
    const again = await p.publish("s.b", "m3", { msgID: "id-3" });
    expect(again).toMatchObject({ stream: "S", seq: acks[3]!.seq, duplicate: true });
    const viaNats = await jetstream(nc).publish("s.b", "m3", { msgID: "id-3" });
    expect(viaNats.seq).toBe(again.seq);
  });

  it("an expectation that fails is the JetStream API error kv.create gives (wrong revision)", async () => {
    const p = StreamPublisher.for(nc);
    await p.publish("s.key", "first", { expect: { lastSubjectSequence: 0 } });
    const err = await p.publish("s.key", "second", { expect: { lastSubjectSequence: 0 } }).catch((e: unknown) => e);
    expect(isWrongRevision(err)).toBe(true);
  });

  it("a subject no stream takes is 'no responders' (not ready), and an ack that never comes times out", async () => {
    const p = StreamPublisher.for(nc);
    const none = await p.publish("nowhere.x", "x").catch((e: unknown) => e);
    expect(isNotReady(none)).toBe(true);
    // A core subscriber that takes the publish and never answers: the sweep rejects it after the timeout.
    const mute = nc.subscribe("mute.x", { callback: () => {} });
    const started = Date.now();
    const err = (await p.publish("mute.x", "x", { timeout: 300 }).catch((e: unknown) => e)) as Error;
    mute.unsubscribe();
    expect(err.name).toBe("TimeoutError");
    expect(isNotReady(err)).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe("StreamPublisher - a refused reply subscription", () => {
  it("fails what waits at once, not after each publish's timeout", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const conf = join(mkdtempSync(join(tmpdir(), "agora-pub-")), "nats.conf");
    // The user may not subscribe under the inbox prefix its connection uses.
    writeFileSync(
      conf,
      `jetstream: enabled\nauthorization { users = [ { user: a, password: p }, { user: u, password: p, permissions: { subscribe: { deny: ["_INBOX_denied.>"] } } } ] }\n`,
    );
    await using nats = await startNats({ args: ["-c", conf] });
    const admin = await connect({ servers: nats.url, user: "a", pass: "p" });
    await (await jetstreamManager(admin)).streams.add({ name: "D", subjects: ["d.>"] });
    await admin.close();
    const nc = await connect({ servers: nats.url, user: "u", pass: "p", inboxPrefix: "_INBOX_denied" });
    try {
      const p = StreamPublisher.for(nc);
      const started = Date.now();
      const err = (await p.publish("d.x", "x", { timeout: 10_000 }).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(Error);
      expect(Date.now() - started).toBeLessThan(5_000);
      // Every later publish fails at once with the same cause.
      const again = Date.now();
      await expect(p.publish("d.y", "y", { timeout: 10_000 })).rejects.toBe(err);
      expect(Date.now() - again).toBeLessThan(1_000);
    } finally {
      await nc.close();
    }
  });
});
