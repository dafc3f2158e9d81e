// Ed25519, the one place that picks the implementation: libsodium through
// `sodium-native` (its npm package ships prebuilt binaries) where it loads —
// about 1.7× node:crypto's speed to verify and to sign on this machine — and
// node:crypto otherwise (a platform without a prebuild, AGORA_ED25519=node).
// Keys stay node:crypto KeyObjects for every caller; their raw bytes are taken
// out once per key and kept beside it.
import { createRequire } from "node:module";
import { sign, verify, type KeyObject } from "node:crypto";

/** The part of sodium-native used here. */
interface Sodium {
  crypto_sign_detached(sig: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
  crypto_sign_verify_detached(sig: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}

/** Which implementation signs and verifies in this process. */
export type Ed25519Backend = "libsodium" | "node:crypto";

function loadSodium(): Sodium | undefined {
  if (process.env.AGORA_ED25519 === "node") return undefined;
  try {
    return createRequire(import.meta.url)("sodium-native") as Sodium;
  } catch {
    return undefined; // no prebuild for this platform: node:crypto does the work
  }
}

const sodium = loadSodium();

/** The implementation in use: libsodium when `sodium-native` loaded, else node:crypto. */
export const ED25519_BACKEND: Ed25519Backend = sodium ? "libsodium" : "node:crypto";

/** Raw key bytes per KeyObject: the 32-byte public key, or libsodium's 64-byte seed ‖ public key. */
const raw = new WeakMap<KeyObject, Buffer>();

function rawKey(key: KeyObject): Buffer {
  let bytes = raw.get(key);
  if (!bytes) {
    const jwk = key.export({ format: "jwk" });
    bytes =
      key.type === "private"
        ? Buffer.concat([Buffer.from(jwk.d!, "base64url"), Buffer.from(jwk.x!, "base64url")])
        : Buffer.from(jwk.x!, "base64url");
    raw.set(key, bytes);
  }
  return bytes;
}

/** A 64-byte Ed25519 signature of `data` by `key` (a private KeyObject). */
export function ed25519Sign(key: KeyObject, data: Uint8Array): Buffer {
  if (!sodium) return sign(null, data, key);
  const sig = Buffer.allocUnsafe(64);
  sodium.crypto_sign_detached(sig, data, rawKey(key));
  return sig;
}

/** Whether `sig` (64 bytes) is `key`'s signature of `data`. Never throws. */
export function ed25519Verify(key: KeyObject, data: Uint8Array, sig: Uint8Array): boolean {
  if (sig.length !== 64) return false;
  try {
    return sodium ? sodium.crypto_sign_verify_detached(sig, data, rawKey(key)) : verify(null, data, key, sig);
  } catch {
    return false;
  }
}
