// Components in the registry: a reference `name@version`, and the signed manifest
// stored beside each component's bytes. The manifest is what a host trusts: the
// bytes must hash to its digest and a trusted publisher must have signed it.
import { canonicalize } from "./jcs.js";
import { isName } from "./names.js";

/** The metadata key holding the manifest (JSON). */
export const MANIFEST_KEY = "agora-manifest";
/** The largest component the registry stores or a host fetches (the reference agents are about 1.6 MiB). */
export const MAX_COMPONENT_BYTES = 64 * 1024 * 1024;
/** The world every agora component targets. */
export const AGENT_WORLD = "agora:agent/agent";

/** A version: semver 2 (major.minor.patch, optional -pre and +build). */
export const VERSION_RE =
  /^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})(-[0-9A-Za-z.-]{1,32})?(\+[0-9A-Za-z.-]{1,32})?$/;

export interface ComponentRef {
  name: string;
  version: string;
}

/** `voter@1.3.0` as a reference, or undefined for anything else (a path, say). */
export function parseComponentRef(s: string): ComponentRef | undefined {
  const at = s.indexOf("@");
  if (at <= 0) return undefined;
  const name = s.slice(0, at);
  const version = s.slice(at + 1);
  return isName(name) && VERSION_RE.test(version) ? { name, version } : undefined;
}

export function refString(r: ComponentRef): string {
  return `${r.name}@${r.version}`;
}

/** What a publisher signs about one component's bytes. */
export interface ComponentManifest {
  v: 1;
  name: string;
  version: string;
  /** `sha256:<hex>` of the component bytes. */
  digest: string;
  size: number;
  world: string;
  /** Its imports, as the component names them (all within agora:agent). */
  imports: string[];
  /** Who signed: a name trusted publishers are listed under (`components.publishers`). */
  publisher: string;
  ts: string;
  /** base64url Ed25519 signature of manifestBytes. */
  sig: string;
}

/** The bytes a publisher signs: the domain line and the manifest's JCS without `sig`. */
export function manifestBytes(m: Omit<ComponentManifest, "sig">): Uint8Array {
  const { sig: _sig, ...rest } = m as ComponentManifest;
  return new TextEncoder().encode(`agora-component-v1\n${canonicalize(rest)}`);
}

/** A manifest read back (never trusted blindly), or undefined when it is not one. */
export function parseManifest(text: string | undefined): ComponentManifest | undefined {
  if (text === undefined) return undefined;
  let m: Partial<ComponentManifest>;
  try {
    m = JSON.parse(text) as Partial<ComponentManifest>;
  } catch {
    return undefined;
  }
  if (
    typeof m !== "object" ||
    m === null ||
    m.v !== 1 ||
    !isName(m.name) ||
    typeof m.version !== "string" ||
    !VERSION_RE.test(m.version) ||
    typeof m.digest !== "string" ||
    !/^sha256:[0-9a-f]{64}$/.test(m.digest) ||
    !Number.isSafeInteger(m.size) ||
    typeof m.world !== "string" ||
    !Array.isArray(m.imports) ||
    !m.imports.every((i) => typeof i === "string") ||
    !isName(m.publisher) ||
    typeof m.ts !== "string" ||
    typeof m.sig !== "string"
  )
    return undefined;
  return m as ComponentManifest;
}
