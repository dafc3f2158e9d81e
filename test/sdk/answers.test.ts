// request()'s shared subscription: one per channel, each answer verified once, however many requests wait.
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { Answers } from "../../sdk/answers.js";
import type { Envelope } from "../../protocol/envelope.js";
import type { Verdict } from "../../trust/verifier.js";
import { startNats } from "../helpers/nats-server.js";

const answer = (id: string, re: string): Envelope => ({
  v: 1,
  id,
  channel: "work",
  sender: "responder",
  act: "inform",
  body: null,
  hop: 0,
  ts: new Date().toISOString(),
  re,
  sig: "x",
});

describe("sdk - request answers", () => {
  it("answers - 32 requests waiting share one subscription; only answers someone waits for are verified, once each", async () => {
    await using nats = await startNats();
    const nc = await connect({ servers: nats.url });
    /** The connection's subscriptions on the channel (nats.js keeps them on its protocol handler). */
    const channelSubs = () =>
      (nc as unknown as { protocol: { subscriptions: { all(): { subject: string }[] } } }).protocol.subscriptions
        .all()
        .filter((s) => s.subject === "agora.ch.work").length;
    const verified: string[] = [];
    const answers = new Answers(nc, async (data) => {
      const env = JSON.parse(new TextDecoder().decode(data)) as Envelope;
      verified.push(env.id);
      return { ok: true, env } satisfies Verdict;
    });
    const got = new Map<string, Envelope[]>();
    const stops: (() => void)[] = [];
    for (let i = 0; i < 32; i++) {
      const id = `req-${i}`;
      got.set(id, []);
      stops.push(await answers.listen("work", id, { answer: (env) => got.get(id)!.push(env), end: () => {} }));
    }
    // One subscription on the channel's subject for all 32.
    expect(channelSubs()).toBe(1);
    const other = new TextEncoder();
    for (let i = 0; i < 32; i++)
      nc.publish("agora.ch.work", other.encode(JSON.stringify(answer(`ans-${i}`, `req-${i}`))));
    nc.publish("agora.ch.work", other.encode(JSON.stringify(answer("noise", "nobody-asked")))); // not verified
    nc.publish("agora.ch.work", other.encode("not json")); // ignored
    await nc.flush();
    await expect.poll(() => verified.length).toBe(32);
    for (let i = 0; i < 32; i++) expect(got.get(`req-${i}`)!.map((e) => e.id)).toEqual([`ans-${i}`]);
    expect(verified).not.toContain("noise");
    for (const stop of stops) stop();
    answers.close();
    expect(channelSubs()).toBe(0);
    await nc.close();
  });
});
