// Publisher signatures on components: a manifest is signed by a publisher key and
// checked against the publishers the config trusts, and the bytes against its digest.
import { createHash } from "node:crypto";
import { manifestBytes, refString, type ComponentManifest, type ComponentRef } from "../protocol/components.js";
import { AgoraError } from "../protocol/errors.js";
import type { Identity } from "./key-store.js";
import { publicKeyObject, signBytes, verifyBytes } from "./signing.js";

/** The key `publishers` trusts `name` with (own entries only: a name like "constructor" is no publisher). */
export function trustedKey(publishers: Readonly<Record<string, string>>, name: string): string | undefined {
  return Object.hasOwn(publishers, name) ? publishers[name] : undefined;
}

/** `sha256:<hex>` of a component's bytes. */
export function componentDigest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A manifest for `bytes`, signed by `publisher`. */
export function signManifest(
  publisher: Identity,
  ref: ComponentRef,
  bytes: Uint8Array,
  about: { world: string; imports: string[] },
  ts = new Date().toISOString(),
): ComponentManifest {
  const unsigned = {
    v: 1 as const,
    name: ref.name,
    version: ref.version,
    digest: componentDigest(bytes),
    size: bytes.byteLength,
    world: about.world,
    imports: [...about.imports].sort(),
    publisher: publisher.name,
    ts,
  };
  return { ...unsigned, sig: signBytes(publisher.privateKey, manifestBytes(unsigned)) };
}

/**
 * Check a component fetched as `ref`: a manifest naming it, signed by a publisher
 * `publishers` trusts (name → base64url public key), over exactly these bytes.
 * Throws AGORA_ERR_COMPONENT_UNSIGNED, _UNTRUSTED or _DIGEST with what to do.
 */
export function verifyComponent(
  ref: ComponentRef,
  manifest: ComponentManifest | undefined,
  bytes: Uint8Array,
  publishers: Readonly<Record<string, string>>,
): ComponentManifest {
  const what = refString(ref);
  if (!manifest)
    throw new AgoraError(
      "AGORA_ERR_COMPONENT_UNSIGNED",
      `${what} has no well-formed signed manifest; push it with 'agora components push --as <publisher>'`,
    );
  if (manifest.name !== ref.name || manifest.version !== ref.version)
    throw new AgoraError(
      "AGORA_ERR_COMPONENT_UNSIGNED",
      `${what} carries the manifest of ${manifest.name}@${manifest.version}: a manifest signs one name and version`,
    );
  const key = trustedKey(publishers, manifest.publisher);
  if (key === undefined)
    throw new AgoraError(
      "AGORA_ERR_COMPONENT_UNTRUSTED",
      `${what} is signed by ${manifest.publisher}, not a trusted publisher; add its public key under components.publishers`,
    );
  if (!verifyBytes(publicKeyObject(key), manifestBytes(manifest), manifest.sig))
    throw new AgoraError(
      "AGORA_ERR_COMPONENT_UNTRUSTED",
      `${what}: the manifest's signature does not verify with ${manifest.publisher}'s trusted key`,
    );
  const digest = componentDigest(bytes);
  if (digest !== manifest.digest || bytes.byteLength !== manifest.size)
    throw new AgoraError(
      "AGORA_ERR_COMPONENT_DIGEST",
      `${what}: the stored bytes hash to ${digest}, the signed manifest says ${manifest.digest}; the component was altered — push it again`,
    );
  return manifest;
}
