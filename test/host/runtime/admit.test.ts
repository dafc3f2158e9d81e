// The controls as pure decisions: each one, positive and negative, with no nats-server.
import { describe, expect, it } from "vitest";
import type { Envelope } from "../../../protocol/envelope.js";
import { emittedId } from "../../../protocol/ids.js";
import type { Send } from "../../../protocol/records.js";
import type { Verdict } from "../../../trust/verifier.js";
import { stamp } from "../../../host/runtime/stamp.js";
import { admit, type AdmitContext } from "../../../trust/admission.js";

const NOW = Date.parse("2026-12-02T12:00:00.000Z");
const env = (over: Partial<Envelope> = {}): Envelope => ({
  v: 1,
  id: "msg-1",
  channel: "build-coord",
  sender: "maintainer",
  act: "request",
  body: { task: "build" },
  hop: 3,
  ts: new Date(NOW - 1000).toISOString(),
  sig: "s".repeat(86),
  ...over,
});
const ok = (e: Envelope = env()): Verdict => ({ ok: true, env: e });
const ctx = (over: Partial<AdmitContext> = {}): AdmitContext => ({
  agent: "responder",
  now: NOW,
  maxMessageAgeMs: 60_000,
  leaving: false,
  killed: false,
  held: false,
  ...over,
});

describe("controls - admit", () => {
  it("controls - a verified, fresh message from another agent is delivered", () => {
    expect(admit(ok(), ctx())).toEqual({ decision: "deliver", env: env() });
  });

  it("controls - the signature control: a verifier rejection stays a rejection with its code", () => {
    const verdict: Verdict = {
      ok: false,
      code: "AGORA_ERR_BAD_SIGNATURE",
      reason: "signature does not verify",
      env: env(),
    };
    expect(admit(verdict, ctx())).toMatchObject({ decision: "reject", code: "AGORA_ERR_BAD_SIGNATURE", env: env() });
    const unparsable: Verdict = { ok: false, code: "AGORA_ERR_BAD_JSON", reason: "not JSON" };
    expect(admit(unparsable, ctx())).toEqual({
      decision: "reject",
      code: "AGORA_ERR_BAD_JSON",
      reason: "not JSON",
      env: undefined,
    });
  });

  it("controls - an envelope older than maxMessageAge is rejected; one just inside is not", () => {
    const old = env({ ts: new Date(NOW - 60_001).toISOString() });
    expect(admit(ok(old), ctx())).toMatchObject({ decision: "reject", code: "AGORA_ERR_TIMESTAMP" });
    const fresh = env({ ts: new Date(NOW - 59_999).toISOString() });
    expect(admit(ok(fresh), ctx()).decision).toBe("deliver");
  });

  it("controls - self-echo: the agent's own message is dropped on every channel, whatever else holds", () => {
    for (const channel of ["build-coord", "votes", "secret-ops"]) {
      const own = env({ sender: "responder", channel });
      expect(admit(ok(own), ctx())).toEqual({ decision: "drop", control: "echo", env: own });
      expect(admit(ok(own), ctx({ killed: true, leaving: true, held: true }))).toMatchObject({ control: "echo" });
    }
    const oldOwn = env({ sender: "responder", ts: new Date(NOW - 3_600_000).toISOString() });
    expect(admit(ok(oldOwn), ctx())).toMatchObject({ decision: "drop", control: "echo" }); // an old echo is still an echo
    expect(admit(ok(env({ sender: "responder-2" })), ctx()).decision).toBe("deliver");
  });

  it("controls - the kill switch: a killed agent gets nothing delivered; revived, it does", () => {
    expect(admit(ok(), ctx({ killed: true }))).toMatchObject({ decision: "drop", control: "killed" });
    expect(admit(ok(), ctx({ killed: true, held: true }))).toMatchObject({ control: "killed" });
    expect(admit(ok(), ctx({ killed: false })).decision).toBe("deliver");
  });

  it("controls - a killed or over-budget sender is refused for good, even while the agent is killed or held", () => {
    for (const sender of ["sender_killed", "over_budget"] as const) {
      expect(admit(ok(), ctx({ sender }))).toMatchObject({ decision: "drop", control: sender });
      expect(admit(ok(), ctx({ sender, killed: true, held: true }))).toMatchObject({ control: sender });
      expect(admit(ok(), ctx({ sender, leaving: true }))).toMatchObject({ control: "handover" }); // its next host decides
    }
  });

  it("controls - supervision holds a failed or backing-off agent; placement hands a leaving agent's messages back", () => {
    expect(admit(ok(), ctx({ held: true }))).toMatchObject({ decision: "drop", control: "held" });
    expect(admit(ok(), ctx({ leaving: true }))).toMatchObject({ decision: "drop", control: "handover" });
    expect(admit(ok(), ctx({ leaving: true, killed: true }))).toMatchObject({ control: "handover" });
  });

  it("controls - a rejection comes before every other control (a forged message never counts as an echo)", () => {
    const forged: Verdict = {
      ok: false,
      code: "AGORA_ERR_BAD_SIGNATURE",
      reason: "forged",
      env: env({ sender: "responder" }),
    };
    expect(admit(forged, ctx({ killed: true })).decision).toBe("reject");
  });
});

/** An agent's seed keys its derived ids. */
const SEED = Buffer.alloc(32, 7).toString("base64url");

describe("controls - stamp", () => {
  const sends: Send[] = [
    { channel: "build-coord", act: "agree", body: '{"ok":true}', re: "msg-1" },
    { channel: "votes", act: "inform", body: '"done"', re: null },
  ];

  it("controls - the host stamps sender, deterministic ids, hop − 1, ts and conv on what a component sends", () => {
    const out = stamp("responder", env({ hop: 3 }), sends, "2026-12-02T12:00:01.000Z", SEED);
    expect("envelopes" in out && out.envelopes).toEqual([
      {
        v: 1,
        id: emittedId(SEED, "responder", "msg-1", 0),
        channel: "build-coord",
        sender: "responder",
        act: "agree",
        body: { ok: true },
        hop: 2,
        ts: "2026-12-02T12:00:01.000Z",
        re: "msg-1",
        conv: "msg-1",
      },
      {
        v: 1,
        id: emittedId(SEED, "responder", "msg-1", 1),
        channel: "votes",
        sender: "responder",
        act: "inform",
        body: "done",
        hop: 2,
        ts: "2026-12-02T12:00:01.000Z",
        conv: "msg-1",
      },
    ]);
    // A re-run stamps the same ids (JetStream's dedup drops the republish); another agent's differ.
    const again = stamp("responder", env({ hop: 3 }), sends, "2026-12-02T12:09:00.000Z", SEED);
    expect("envelopes" in again && again.envelopes.map((e) => e.id)).toEqual(
      ["envelopes" in out && out.envelopes.map((e) => e.id)].flat(),
    );
    const other = stamp("voter", env({ hop: 3 }), sends, "x", SEED);
    expect("envelopes" in other && other.envelopes[0]!.id).not.toBe(emittedId(SEED, "responder", "msg-1", 0));
    // Without the agent's seed no one can compute them (and publish one first, to have the real one dropped).
    const guessed = stamp("responder", env({ hop: 3 }), sends, "x", Buffer.alloc(32, 8).toString("base64url"));
    expect("envelopes" in guessed && guessed.envelopes[0]!.id).not.toBe(emittedId(SEED, "responder", "msg-1", 0));
  });

  it("controls - the hop budget: what a component sends while handling a hop-0 message is dropped, at hop 1 it goes out at 0", () => {
    expect(stamp("responder", env({ hop: 0 }), sends, "t", SEED)).toEqual({ hopExhausted: 2 });
    const last = stamp("responder", env({ hop: 1 }), sends, "t", SEED);
    expect("envelopes" in last && last.envelopes.map((e) => e.hop)).toEqual([0, 0]);
    expect(stamp("responder", env({ hop: 0 }), [], "t", SEED)).toEqual({ envelopes: [] });
  });

  it("controls - an answer to a message the host has seen goes out below that message's hop too; one answering a hop-0 message is dropped", () => {
    // A timeout at hop 6 answering proposals that came later at hop 4 (and one at 0): the readers would refuse hop 5.
    const hops = new Map([
      ["p4", 4],
      ["p0", 0],
    ]);
    const answers = [
      { channel: "build-coord", act: "accept-proposal" as const, body: "{}", re: "p4" },
      { channel: "build-coord", act: "reject-proposal" as const, body: "{}", re: "p0" },
      { channel: "build-coord", act: "inform" as const, body: "{}", re: null },
    ];
    const out = stamp("manager", env({ hop: 6 }), answers, "t", SEED, (id) => hops.get(id));
    expect("envelopes" in out && out.envelopes.map((e) => [e.act, e.hop])).toEqual([
      ["accept-proposal", 3],
      ["inform", 5],
    ]);
    expect(out.hopExhausted).toBe(1);
  });

  it("controls - a conversation id is carried over, or starts at the message that opened it", () => {
    const inConv = stamp("responder", env({ conv: "issue-7" }), sends, "t", SEED);
    expect("envelopes" in inConv && inConv.envelopes.every((e) => e.conv === "issue-7")).toBe(true);
  });
});
