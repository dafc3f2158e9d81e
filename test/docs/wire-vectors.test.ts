// docs/wire-vectors.json: the conformance vectors other implementations check
// themselves against. The file equals what the generator builds, and agora
// itself passes every vector: each valid one signs to the same bytes and
// signature and verifies; each invalid one is refused with its code.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { parseConfig } from "../../config/config.js";
import { encodeEnvelope, signingInput } from "../../protocol/envelope.js";
import { canonicalize } from "../../protocol/jcs.js";
import { KeyRegistry } from "../../trust/key-registry.js";
import { privateKeyObject, signEnvelope } from "../../trust/signing.js";
import { Verifier } from "../../trust/verifier.js";
import { userNkey } from "../../trust/nkeys.js";
import { buildVectors, keyFromSeed, VECTORS_FILE, type WireVectors } from "../helpers/wire-vectors.js";

const vectors = JSON.parse(readFileSync(VECTORS_FILE, "utf8")) as WireVectors;

describe("wire vectors", () => {
  it("wire vectors - docs/wire-vectors.json is what the generator builds (regenerate: node --import tsx test/helpers/wire-vectors.ts --write)", () => {
    expect(vectors).toEqual(JSON.parse(JSON.stringify(buildVectors())));
    expect(vectors.valid.length).toBeGreaterThanOrEqual(3);
    expect(vectors.invalid.length).toBeGreaterThanOrEqual(15);
  });

  it("wire vectors - keys, canonical forms, signed bytes and signatures reproduce; every valid envelope verifies", () => {
    const registry = new KeyRegistry();
    for (const k of vectors.keys) {
      const pair = keyFromSeed(Buffer.from(k.seed, "base64url"));
      expect(pair.publicKey).toBe(k.publicKey);
      expect(userNkey(k.publicKey)).toBe(k.nkey);
      registry.pin(k.name, k.publicKey);
    }
    const alice = vectors.keys.find((k) => k.name === "alice")!;
    const key = privateKeyObject({ privateKey: alice.seed, publicKey: alice.publicKey });
    const verifier = new Verifier(parseConfig(vectors.config, { baseDir: "/tmp", env: {} }), registry);
    for (const v of vectors.valid) {
      const { sig, ...unsigned } = v.envelope;
      expect(canonicalize(unsigned), v.description).toBe(v.canonical);
      expect(signingInput(unsigned).toString("utf8"), v.description).toBe(v.signedBytes);
      expect(v.signedBytes.startsWith("agora-envelope-v1\n")).toBe(true);
      expect(signEnvelope(key, unsigned).sig, v.description).toBe(sig);
      expect(sig).toBe(v.sig);
      const verdict = verifier.check(encodeEnvelope(v.envelope), v.subject);
      expect(verdict.ok, `${v.description}: ${verdict.ok ? "" : verdict.reason}`).toBe(true);
    }
  });

  it("wire vectors - every invalid envelope is refused with its code", () => {
    const registry = new KeyRegistry();
    for (const k of vectors.keys) registry.pin(k.name, k.publicKey);
    const verifier = new Verifier(parseConfig(vectors.config, { baseDir: "/tmp", env: {} }), registry);
    const got = vectors.invalid.map((v) => {
      const verdict = verifier.check(Buffer.from(v.bytes, "utf8"), v.subject);
      return `${v.description}: ${verdict.ok ? "accepted" : verdict.code}`;
    });
    expect(got).toEqual(vectors.invalid.map((v) => `${v.description}: ${v.code}`));
  });
});
