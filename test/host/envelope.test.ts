// Envelope parsing, JCS, and Ed25519 interop between node:crypto and @noble/ed25519.
import { describe, expect, it } from "vitest";
import * as ed from "@noble/ed25519";
import { canonicalize } from "../../protocol/jcs.js";
import { parseEnvelope, signingInput, validateEnvelope, ACTS, type Envelope } from "../../protocol/envelope.js";
import {
  generateRawKeyPair,
  privateKeyObject,
  publicKeyObject,
  signEnvelope,
  verifyEnvelope,
} from "../../trust/signing.js";
import { AgoraError } from "../../protocol/errors.js";
import { NAME_RE } from "../../protocol/names.js";

const pair = generateRawKeyPair();
const base = {
  v: 1 as const,
  id: "abc",
  channel: "build-coord",
  sender: "maintainer",
  act: "request" as const,
  body: { b: 1, a: [1, "x"] },
  hop: 3,
  ts: "2026-11-21T04:22:42.803Z",
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof AgoraError ? err.code : "other";
  }
  return undefined;
}

describe("envelope", () => {
  it("envelope - JCS sorts keys by UTF-16 code units and writes numbers in shortest form", () => {
    expect(canonicalize({ b: 1, a: { d: [3, 2], c: null } })).toBe('{"a":{"c":null,"d":[3,2]},"b":1}');
    expect(canonicalize({ "\u20ac": 1, "\r": 2, "1": 3, "\ud83d\ude00": 4, "\ufb33": 5 })).toBe(
      '{"\\r":2,"1":3,"\u20ac":1,"\ud83d\ude00":4,"\ufb33":5}',
    );
    expect(canonicalize([1e21, 1e-7, -0, 0.1 + 0.2, 333333333.3333333])).toBe(
      "[1e+21,1e-7,0,0.30000000000000004,333333333.3333333]",
    );
    expect(canonicalize('\u2028\n"')).toBe('"\u2028\\n\\""');
  });

  it("envelope - there are exactly the 22 FIPA performatives and names are one subject token", () => {
    expect(ACTS).toHaveLength(22);
    for (const bad of ["a.b", "a*", ">", "A", "-a", "", "a b", "x".repeat(64), "ａ"])
      expect(NAME_RE.test(bad)).toBe(false);
    expect(NAME_RE.test("build-coord")).toBe(true);
  });

  it("envelope - malformed input gets a coded error", () => {
    const sig = "A".repeat(86);
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o));
    expect(codeOf(() => parseEnvelope(Buffer.from("{")))).toBe("AGORA_ERR_BAD_JSON");
    expect(codeOf(() => parseEnvelope(new Uint8Array([0xc3, 0x28])))).toBe("AGORA_ERR_BAD_JSON");
    expect(codeOf(() => parseEnvelope(Buffer.alloc(70_000, 32)))).toBe("AGORA_ERR_TOO_LARGE");
    expect(codeOf(() => parseEnvelope(enc([1, 2])))).toBe("AGORA_ERR_BAD_ENVELOPE");
    for (const patch of [
      { v: 2 },
      { id: "a.b" },
      { id: "" },
      { channel: "a.b" },
      { sender: "x>" },
      { act: "shout" },
      { hop: -1 },
      { hop: 17 },
      { hop: 1.5 },
      { ts: "yesterday" },
      { re: 5 },
      { extra: 1 },
      { sig: "short" },
    ]) {
      expect(codeOf(() => parseEnvelope(enc({ ...base, sig, ...patch })))).toBe("AGORA_ERR_BAD_ENVELOPE");
    }
    expect(codeOf(() => parseEnvelope(enc({ ...base, sig })))).toBeUndefined();
  });

  it("envelope - node:crypto and @noble/ed25519 interoperate both ways", async () => {
    const nodeSigned = signEnvelope(privateKeyObject(pair), base);
    const pub = Buffer.from(pair.publicKey, "base64url");
    expect(await ed.verifyAsync(Buffer.from(nodeSigned.sig, "base64url"), signingInput(nodeSigned), pub)).toBe(true);

    const secret = ed.utils.randomSecretKey();
    const noblePub = Buffer.from(await ed.getPublicKeyAsync(secret)).toString("base64url");
    const nobleSig = Buffer.from(await ed.signAsync(signingInput(base), secret)).toString("base64url");
    const env: Envelope = { ...base, sig: nobleSig };
    expect(verifyEnvelope(publicKeyObject(noblePub), env)).toBe(true);
    expect(verifyEnvelope(publicKeyObject(noblePub), { ...env, hop: 2 })).toBe(false);
    expect(verifyEnvelope(publicKeyObject(pair.publicKey), env)).toBe(false);
  });
});

describe("envelope - I-JSON", () => {
  it("envelope - a body holding a lone surrogate (in a value or a key) is not I-JSON and is refused; pairs are fine", () => {
    const base = {
      v: 1,
      id: "a1",
      channel: "c",
      sender: "s",
      act: "inform",
      hop: 1,
      ts: "2026-11-21T04:22:42.803Z",
      sig: "x".repeat(86),
    };
    expect(() => validateEnvelope({ ...base, body: "\ud800" })).toThrow(/lone surrogate/);
    expect(() => validateEnvelope({ ...base, body: { nested: ["ok", "\udc00x"] } })).toThrow(/lone surrogate/);
    expect(() => validateEnvelope({ ...base, body: { ["k\ud83d"]: 1 } })).toThrow(/lone surrogate/);
    expect(validateEnvelope({ ...base, body: { "\ud83d\ude00": "\ud83d\ude00 \u20ac" } }).body).toEqual({
      "\ud83d\ude00": "\ud83d\ude00 \u20ac",
    });
    // Raw bytes: JSON escapes decode to lone surrogates too.
    const raw = Buffer.from(JSON.stringify({ ...base, body: "x" }).replace('"body":"x"', '"body":"\\udbff"'));
    expect(() => parseEnvelope(raw)).toThrow(/lone surrogate/);
  });
});
