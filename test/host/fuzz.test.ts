// Hostile input: 10,000 generated malformed or hostile envelopes thrown at a live
// host, with legitimate traffic interleaved. The host stays up, each hostile
// message is rejected with a coded reason and a fact, all legitimate ones arrive.
import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { encodeEnvelope, type Envelope } from "../../protocol/envelope.js";
import type { HostEvent } from "../../protocol/events.js";
import { generateRawKeyPair, privateKeyObject, signEnvelope } from "../../trust/signing.js";
import { readFacts, startAgora, until } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";

/** Deterministic PRNG (mulberry32) so a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.AGORA_FUZZ_SEED ?? 20261121);
const CASES = 10_000;

describe("fuzz", () => {
  it(`fuzz - ${CASES} hostile envelopes against a live host: all rejected with a code and a fact, legitimate traffic all delivered`, async () => {
    await using a = await startAgora({
      channels: ["build-coord", "other"],
      agents: { responder: { component: agentWasm("responder"), read: ["build-coord"], write: ["build-coord"] } },
      external: { maintainer: { write: ["build-coord", "other"] }, outsider: { write: ["other"] } },
    });
    await a.startRecorder();
    const host = await a.startHost();
    const events: HostEvent[] = [];
    void (async () => {
      for await (const e of host.events.subscribe()) events.push(e);
    })();
    const maintainer = await a.client("maintainer");
    const outsider = await a.client("outsider");
    const ghost = privateKeyObject(generateRawKeyPair());
    const rand = prng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const base = (): Omit<Envelope, "sig"> => ({
      v: 1,
      id: `f${Math.floor(rand() * 1e12).toString(36)}`,
      channel: "build-coord",
      sender: "maintainer",
      act: "inform",
      body: { n: Math.floor(rand() * 1000) },
      hop: 0,
      ts: new Date().toISOString(),
    });
    const signed = (patch: Partial<Envelope> = {}, key = maintainer.identity.privateKey) =>
      signEnvelope(key, { ...base(), ...patch });
    const legit: Envelope[] = [];
    const kinds = new Map<string, number>();
    const cases: { kind: string; subject: string; data: Uint8Array | string }[] = [];
    const add = (kind: string, subject: string, data: Uint8Array | string) => {
      cases.push({ kind, subject, data });
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    };
    const lookalikes = [
      "maintаiner",
      "mаintainer",
      "maintainer\u200b",
      "maint\u0000ainer",
      "MAINTAINER",
      "maintainer.x",
      "build-coord\n",
      "build‐coord",
      "*",
      ">",
    ];
    for (let i = 0; i < CASES; i++) {
      const k = Math.floor(rand() * 13);
      const ch = "agora.ch.build-coord";
      switch (k) {
        case 0:
          add("random bytes", ch, randomBytes(Math.floor(rand() * 2000)));
          break;
        case 1: {
          const e = signed() as unknown as Record<string, unknown>;
          e[pick(["v", "id", "hop", "ts", "act", "sender", "channel", "sig"])] = pick([
            null,
            7,
            -1,
            [],
            {},
            true,
            "",
            "x".repeat(100),
          ]);
          add("wrong types", ch, JSON.stringify(e));
          break;
        }
        case 2:
          add("huge body", ch, encodeEnvelope(signed({ body: "x".repeat(65_536 + Math.floor(rand() * 400_000)) })));
          break;
        case 3: {
          // Well-formed apart from the nesting, with a plausible signature: it must get past the shape checks.
          const depth = 65 + Math.floor(rand() * 60_000);
          add(
            "deeply nested",
            ch,
            `{"v":1,"id":"d${i}","channel":"build-coord","sender":"maintainer","act":"inform","hop":0,"ts":"${new Date().toISOString()}","sig":"${"A".repeat(86)}","body":${"[".repeat(depth)}${"]".repeat(depth)}}`,
          );
          break;
        }
        case 4:
          add("look-alike names", ch, encodeEnvelope(signed({ sender: pick(lookalikes) })));
          break;
        case 5:
          add(
            "control characters",
            ch,
            JSON.stringify({ ...signed(), channel: `build-coord${String.fromCharCode(Math.floor(rand() * 32))}` }),
          );
          break;
        case 6: {
          const e = signed({ channel: "build-coord" });
          add("signature moved to another channel", "agora.ch.other", encodeEnvelope({ ...e, channel: "other" }));
          break;
        }
        case 7: {
          const e = signed({}, outsider.identity.privateKey);
          add("one agent's signature under another's name", ch, encodeEnvelope({ ...e, sender: "maintainer" }));
          break;
        }
        case 8:
          add("hop out of range", ch, JSON.stringify({ ...signed(), hop: pick([17, -1, 1.5, 1e9, "3"]) }));
          break;
        case 9:
          add(
            "timestamp far in the future",
            ch,
            encodeEnvelope(signed({ ts: new Date(Date.now() + 86_400_000 * (1 + rand() * 3650)).toISOString() })),
          );
          break;
        case 10:
          add("unknown sender", ch, encodeEnvelope(signEnvelope(ghost, { ...base(), sender: "ghost" })));
          break;
        case 11:
          add(
            "sender without a grant",
            ch,
            encodeEnvelope(signed({ sender: "outsider" }, outsider.identity.privateKey)),
          );
          break;
        case 12:
          add("forged signature", ch, encodeEnvelope({ ...signed(), body: { n: -1 } }));
          break;
      }
    }
    const started = performance.now();
    let published = 0;
    for (let i = 0; i < cases.length; i += 250) {
      // Legitimate traffic interleaved with every batch.
      const { env } = await maintainer.send("build-coord", "request", { legit: legit.length }, { hop: 1 });
      legit.push(env);
      await Promise.all(
        cases.slice(i, i + 250).map((c) => a.infra.js.publish(c.subject, c.data).then(() => published++)),
      );
    }
    const publishMs = performance.now() - started;
    // Replayed ids: legitimate envelopes published again under new Nats-Msg-Ids (past JetStream's dedup).
    const replays = legit.slice(0, 20);
    for (const [i, env] of replays.entries())
      await a.infra.js.publish("agora.ch.build-coord", encodeEnvelope(env), { msgID: `replay-${i}` });
    await until(
      () => legit.every((l) => events.some((e) => e.type === "emitted" && e.re === l.id)),
      120_000,
      "every legitimate request answered",
    );
    const expectedAtHost = CASES - (kinds.get("signature moved to another channel") ?? 0); // the responder does not read `other`
    await until(() => host.counters.rejected >= expectedAtHost, 60_000, "the host to see every hostile message").catch(
      () => {},
    );
    await a.settleFacts();
    const facts = readFacts(a.config.factsDir);
    const rejected = facts.filter((f) => f.type === "rejected");
    const codes = new Map<string, number>();
    for (const f of rejected) codes.set(String(f.fields.code), (codes.get(String(f.fields.code)) ?? 0) + 1);
    console.log(
      `fuzz: ${CASES} hostile cases (seed ${SEED}) published in ${(publishMs / 1000).toFixed(1)} s — ` +
        `${[...kinds].map(([k, n]) => `${k}: ${n}`).join(", ")}\n` +
        `      facts: ${rejected.length} rejected — ${[...codes].map(([c, n]) => `${c}: ${n}`).join(", ")}; ` +
        `host rejected ${host.counters.rejected}; ${legit.length}/${legit.length} legitimate requests answered`,
    );
    expect(published).toBe(CASES);
    expect(rejected).toHaveLength(CASES); // every hostile message: one rejected fact with a code
    for (const f of rejected) expect(String(f.fields.code)).toMatch(/^AGORA_ERR_[A-Z_]+$/);
    expect(host.counters.rejected).toBe(expectedAtHost);
    expect(host.counters.delivered).toBe(legit.length); // replays were not handed over again
    await until(() => host.counters.duplicate >= replays.length, 30_000, "replays refused");
    await a.settleFacts();
    expect(readFacts(a.config.factsDir).filter((f) => f.type === "duplicate")).toHaveLength(replays.length); // … each refused as a duplicate
    expect(facts.filter((f) => f.type === "speech-act" && f.fields.sender === "maintainer")).toHaveLength(
      legit.length + replays.length,
    ); // replays are valid acts …
  });
});
