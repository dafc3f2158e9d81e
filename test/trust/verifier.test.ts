// The first control, in memory: every way an envelope is refused, with no nats-server.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config/config.js";
import { encodeEnvelope, type UnsignedEnvelope } from "../../protocol/envelope.js";
import { channelSubject } from "../../protocol/subjects.js";
import { KeyRegistry } from "../../trust/key-registry.js";
import { generateRawKeyPair, privateKeyObject, signEnvelope } from "../../trust/signing.js";
import { Verifier } from "../../trust/verifier.js";

const config = parseConfig(
  { channels: { a: null, b: null }, external: { alice: { write: ["a"] }, bob: { write: ["a", "b"] } } },
  { baseDir: "/tmp", env: {} },
);
const alice = generateRawKeyPair();
const bob = generateRawKeyPair();
const keys = new KeyRegistry();
keys.pin("alice", alice.publicKey);
keys.pin("bob", bob.publicKey);
const verifier = new Verifier(config, keys);

const unsigned = (over: Partial<UnsignedEnvelope> = {}): UnsignedEnvelope => ({
  v: 1,
  id: "m1",
  channel: "a",
  sender: "alice",
  act: "inform",
  body: { n: 1 },
  hop: 3,
  ts: new Date().toISOString(),
  ...over,
});
const bytes = (pair = alice, over: Partial<UnsignedEnvelope> = {}) =>
  encodeEnvelope(signEnvelope(privateKeyObject(pair), unsigned(over)));

describe("trust - verifier", () => {
  it("trust - a well-signed envelope from a granted sender passes", () => {
    expect(verifier.check(bytes(), channelSubject("a"))).toMatchObject({
      ok: true,
      env: { sender: "alice", id: "m1" },
    });
  });

  it("trust - each refusal carries its code", () => {
    const cases: [Uint8Array, string, string][] = [
      [bytes(bob), channelSubject("a"), "AGORA_ERR_BAD_SIGNATURE"], // alice's name, bob's key
      [bytes(alice, { sender: "carol" }), channelSubject("a"), "AGORA_ERR_UNKNOWN_SENDER"],
      [bytes(alice, { channel: "b" }), channelSubject("b"), "AGORA_ERR_NOT_GRANTED"],
      [bytes(alice), channelSubject("b"), "AGORA_ERR_CHANNEL_MISMATCH"],
      [bytes(alice, { channel: "c" }), channelSubject("c"), "AGORA_ERR_UNKNOWN_CHANNEL"],
      [
        bytes(alice, { ts: new Date(Date.now() + 3_600_000).toISOString() }),
        channelSubject("a"),
        "AGORA_ERR_TIMESTAMP",
      ],
      [bytes(alice, { body: "x".repeat(70_000) }), channelSubject("a"), "AGORA_ERR_TOO_LARGE"],
      [Buffer.from("{not json"), channelSubject("a"), "AGORA_ERR_BAD_JSON"],
      [
        Buffer.from(JSON.stringify({ ...unsigned(), sig: "x".repeat(86), extra: 1 })),
        channelSubject("a"),
        "AGORA_ERR_BAD_ENVELOPE",
      ],
    ];
    for (const [data, subject, code] of cases)
      expect(verifier.check(data, subject), code).toMatchObject({ ok: false, code });
  });

  it("trust - a signature moved to another envelope does not verify", () => {
    const good = signEnvelope(privateKeyObject(alice), unsigned());
    const moved = encodeEnvelope({ ...good, body: { n: 2 } });
    expect(verifier.check(moved, channelSubject("a"))).toMatchObject({ ok: false, code: "AGORA_ERR_BAD_SIGNATURE" });
  });
});
