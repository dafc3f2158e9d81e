// The conformance vectors of docs/wire-vectors.json, built from fixed keys:
// Ed25519 is deterministic, so every signature below is reproducible by any
// implementation. `node --import tsx test/helpers/wire-vectors.ts --write`
// rewrites the file; test/docs/wire-vectors.test.ts keeps it equal to this.
import { createPrivateKey, createPublicKey } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { canonicalize } from "../../protocol/jcs.js";
import { signingInput, type Envelope, type UnsignedEnvelope } from "../../protocol/envelope.js";
import { privateKeyObject, signEnvelope } from "../../trust/signing.js";
import { userNkey } from "../../trust/nkeys.js";
import { ROOT } from "./paths.js";

const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");

/** A key pair from a 32-byte seed, base64url like agora's key files. */
export function keyFromSeed(seed: Buffer): { privateKey: string; publicKey: string } {
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: "der", type: "pkcs8" });
  return {
    privateKey: seed.toString("base64url"),
    publicKey: createPublicKey(priv).export({ format: "jwk" }).x as string,
  };
}

export const VECTOR_CONFIG = {
  channels: { work: null, other: null },
  external: { alice: { read: ["work"], write: ["work"] }, bob: { read: ["work"] } },
};

export interface WireVectors {
  description: string;
  config: typeof VECTOR_CONFIG;
  keys: { name: string; seed: string; publicKey: string; nkey: string }[];
  valid: {
    description: string;
    subject: string;
    envelope: Envelope;
    canonical: string;
    signedBytes: string;
    sig: string;
  }[];
  invalid: { description: string; subject: string; bytes: string; code: string }[];
}

export function buildVectors(): WireVectors {
  const alice = keyFromSeed(Buffer.alloc(32, 1));
  const bob = keyFromSeed(Buffer.alloc(32, 2));
  const aliceKey = privateKeyObject(alice);
  const bobKey = privateKeyObject(bob);
  const base: UnsignedEnvelope = {
    v: 1,
    id: "vec-0001",
    channel: "work",
    sender: "alice",
    act: "request",
    body: { task: "build", n: 1.5, list: [true, null, "ü", "😀"], nested: { b: 2, a: 1 } },
    hop: 3,
    ts: "2026-01-01T00:00:00.000Z",
  };
  const reply: UnsignedEnvelope = {
    ...base,
    id: "vec-0002",
    act: "agree",
    body: null,
    hop: 2,
    re: "vec-0001",
    conv: "vec-0001",
  };
  const valid = [
    { description: "a request with a body that needs JCS (key order, numbers, non-ASCII)", env: base },
    { description: "an answer: re, conv, hop − 1, a null body", env: reply },
    {
      description: "a body whose deepest value is 64 levels down (the limit): [[…[1]…]] with 64 brackets",
      env: { ...base, id: "vec-0003", body: JSON.parse(`${"[".repeat(64)}1${"]".repeat(64)}`) as unknown },
    },
  ].map(({ description, env }) => {
    const signed = signEnvelope(aliceKey, env);
    return {
      description,
      subject: "agora.ch.work",
      envelope: signed,
      canonical: canonicalize({ ...env }),
      signedBytes: Buffer.from(signingInput(env)).toString("utf8"),
      sig: signed.sig,
    };
  });
  const good = signEnvelope(aliceKey, base);
  const text = (v: unknown) => JSON.stringify(v);
  const resigned = (fields: Partial<Envelope> & Record<string, unknown>) =>
    text(signEnvelope(aliceKey, { ...base, ...fields } as UnsignedEnvelope));
  const invalid = [
    { description: "not JSON", bytes: "{not json", code: "AGORA_ERR_BAD_JSON" },
    { description: "a field missing (sig)", bytes: text({ ...base }), code: "AGORA_ERR_BAD_ENVELOPE" },
    { description: "an unknown field", bytes: text({ ...good, extra: 1 }), code: "AGORA_ERR_BAD_ENVELOPE" },
    { description: "v is not 1", bytes: text({ ...good, v: 2 }), code: "AGORA_ERR_BAD_ENVELOPE" },
    { description: "an id with a dot", bytes: resigned({ id: "a.b" }), code: "AGORA_ERR_BAD_ENVELOPE" },
    { description: "hop above 16", bytes: resigned({ hop: 17 }), code: "AGORA_ERR_BAD_ENVELOPE" },
    {
      description: "an act that is not a performative",
      bytes: resigned({ act: "shout" as never }),
      code: "AGORA_ERR_BAD_ENVELOPE",
    },
    {
      description: "a body holding a lone surrogate (not I-JSON), written escaped",
      bytes: text({ ...good, body: "x" }).replace('"body":"x"', '"body":"\\ud800"'),
      code: "AGORA_ERR_BAD_ENVELOPE",
    },
    {
      description: "a body whose deepest value is 65 levels down (signed: the depth alone is wrong)",
      bytes: resigned({ body: JSON.parse(`${"[".repeat(65)}1${"]".repeat(65)}`) as unknown }),
      code: "AGORA_ERR_BAD_ENVELOPE",
    },
    { description: "larger than 64 KiB", bytes: resigned({ body: "x".repeat(70_000) }), code: "AGORA_ERR_TOO_LARGE" },
    {
      description: "published on another channel's subject",
      bytes: text(good),
      code: "AGORA_ERR_CHANNEL_MISMATCH",
      subject: "agora.ch.other",
    },
    {
      description: "a channel that is not declared",
      bytes: resigned({ channel: "nowhere" }),
      code: "AGORA_ERR_UNKNOWN_CHANNEL",
      subject: "agora.ch.nowhere",
    },
    {
      description: "a timestamp far in the future",
      bytes: resigned({ ts: "2999-01-01T00:00:00.000Z" }),
      code: "AGORA_ERR_TIMESTAMP",
    },
    {
      description: "a sender with no registered key",
      bytes: resigned({ sender: "carol" }),
      code: "AGORA_ERR_UNKNOWN_SENDER",
    },
    {
      description: "the body changed after signing",
      bytes: text({ ...good, body: { task: "other" } }),
      code: "AGORA_ERR_BAD_SIGNATURE",
    },
    {
      description: "alice's signature under bob's name",
      bytes: text({ ...good, sender: "bob" }),
      code: "AGORA_ERR_BAD_SIGNATURE",
    },
    {
      description: "bob may not write work",
      bytes: text(signEnvelope(bobKey, { ...base, sender: "bob" })),
      code: "AGORA_ERR_NOT_GRANTED",
    },
  ].map((v) => ({ subject: "agora.ch.work", ...v }));
  return {
    description:
      "agora wire format v1 conformance vectors (docs/wire.md). Keys are 32-byte seeds, base64url; signatures are pure Ed25519 over signedBytes (UTF-8). `invalid` bytes must be refused with `code`, checked in the order of wire.md's verification table, for the config given.",
    config: VECTOR_CONFIG,
    keys: [
      { name: "alice", seed: alice.privateKey, publicKey: alice.publicKey, nkey: userNkey(alice.publicKey) },
      { name: "bob", seed: bob.privateKey, publicKey: bob.publicKey, nkey: userNkey(bob.publicKey) },
    ],
    valid,
    invalid,
  };
}

export const VECTORS_FILE = join(ROOT, "docs", "wire-vectors.json");

if (process.argv.includes("--write")) {
  writeFileSync(VECTORS_FILE, `${JSON.stringify(buildVectors(), null, 2)}\n`);
  console.log(`written ${VECTORS_FILE}`);
}
