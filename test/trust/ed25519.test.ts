// libsodium (the hot path's choice), node:crypto (its fallback) and @noble/ed25519 (browsers) agree.
import { sign, verify } from "node:crypto";
import { execFileSync } from "node:child_process";
import * as ed from "@noble/ed25519";
import { describe, expect, it } from "vitest";
import { ED25519_BACKEND, ed25519Sign, ed25519Verify } from "../../trust/ed25519.js";
import { generateRawKeyPair, privateKeyObject, publicKeyObject } from "../../trust/signing.js";

describe("trust - Ed25519", () => {
  it("ed25519 - libsodium is used here (sodium-native ships a prebuild for this platform)", () => {
    expect(ED25519_BACKEND).toBe("libsodium");
  });

  it("ed25519 - libsodium, node:crypto and @noble/ed25519 verify each other's signatures and refuse a changed byte", async () => {
    const pair = generateRawKeyPair();
    const priv = privateKeyObject(pair);
    const pub = publicKeyObject(pair.publicKey);
    const pubBytes = Buffer.from(pair.publicKey, "base64url");
    const seed = Buffer.from(pair.privateKey, "base64url");
    for (const len of [0, 1, 63, 64, 1000, 70_000]) {
      const data = Buffer.alloc(len, len % 251);
      const sodiumSig = ed25519Sign(priv, data);
      const nodeSig = sign(null, data, priv);
      const nobleSig = Buffer.from(await ed.signAsync(data, seed));
      // Ed25519 is deterministic: one signature per (key, message), whoever computes it.
      expect(sodiumSig.equals(nodeSig)).toBe(true);
      expect(sodiumSig.equals(nobleSig)).toBe(true);
      expect(ed25519Verify(pub, data, nodeSig)).toBe(true);
      expect(verify(null, data, pub, sodiumSig)).toBe(true);
      expect(await ed.verifyAsync(sodiumSig, data, pubBytes)).toBe(true);
      const changed = Buffer.from(sodiumSig);
      changed[len % 64] ^= 1;
      expect(ed25519Verify(pub, data, changed)).toBe(false);
      if (len > 0) {
        const other = Buffer.from(data);
        other[0] ^= 1;
        expect(ed25519Verify(pub, other, sodiumSig)).toBe(false);
      }
    }
    expect(ed25519Verify(pub, Buffer.from("x"), Buffer.alloc(63))).toBe(false);
    expect(ed25519Verify(pub, Buffer.from("x"), Buffer.alloc(64))).toBe(false);
  });

  it("ed25519 - AGORA_ED25519=node falls back to node:crypto, and its signatures are the same bytes", () => {
    const pair = generateRawKeyPair();
    const out = execFileSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `const { ED25519_BACKEND, ed25519Sign } = await import("./trust/ed25519.ts");
         const { privateKeyObject } = await import("./trust/signing.ts");
         const sig = ed25519Sign(privateKeyObject(${JSON.stringify(pair)}), Buffer.from("agora"));
         console.log(ED25519_BACKEND + " " + sig.toString("base64url"));`,
      ],
      { env: { ...process.env, AGORA_ED25519: "node" }, encoding: "utf8" },
    ).trim();
    const expected = ed25519Sign(privateKeyObject(pair), Buffer.from("agora")).toString("base64url");
    expect(out).toBe(`node:crypto ${expected}`);
  });
});
