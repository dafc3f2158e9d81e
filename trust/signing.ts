// Ed25519 keys, signing and verification (the implementation is ed25519.ts's choice).
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { AgoraError } from "../protocol/errors.js";
import { signingInput, type Envelope, type UnsignedEnvelope } from "../protocol/envelope.js";
import { ed25519Sign, ed25519Verify } from "./ed25519.js";

const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;

/** A raw Ed25519 key pair, base64url without padding (the wire encoding). */
export interface RawKeyPair {
  publicKey: string;
  privateKey: string;
}

export function generateRawKeyPair(): RawKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  void publicKey;
  return { publicKey: jwk.x as string, privateKey: jwk.d as string };
}

export function isPublicKey(value: unknown): value is string {
  return typeof value === "string" && B64URL_32.test(value);
}

/** A node:crypto public KeyObject from the raw base64url key. */
export function publicKeyObject(raw: string): KeyObject {
  if (!isPublicKey(raw))
    throw new AgoraError("AGORA_ERR_KEY_INVALID", "public key must be 43 chars of base64url (32 raw bytes)");
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw }, format: "jwk" });
}

/** A node:crypto private KeyObject from the raw base64url pair. */
export function privateKeyObject(pair: RawKeyPair): KeyObject {
  if (!isPublicKey(pair.publicKey) || !B64URL_32.test(pair.privateKey)) {
    throw new AgoraError("AGORA_ERR_KEY_INVALID", "key pair must be two 43-char base64url strings");
  }
  return createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", x: pair.publicKey, d: pair.privateKey },
    format: "jwk",
  });
}

/** Sign arbitrary bytes; base64url signature. */
export function signBytes(key: KeyObject, data: Uint8Array): string {
  return ed25519Sign(key, data).toString("base64url");
}

export function verifyBytes(key: KeyObject, data: Uint8Array, sig: string): boolean {
  return ed25519Verify(key, data, Buffer.from(sig, "base64url"));
}

/** Sign an envelope: returns it with `sig` set. */
export function signEnvelope(key: KeyObject, env: UnsignedEnvelope): Envelope {
  return { ...env, sig: signBytes(key, signingInput(env)) };
}

export function verifyEnvelope(key: KeyObject, env: Envelope): boolean {
  return verifyBytes(key, signingInput(env), env.sig);
}
