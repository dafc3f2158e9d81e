// Fact: one rivet artifact — its shape, digest, and the recorder's signature.
import { createHash, type KeyObject } from "node:crypto";
import { canonicalize } from "../protocol/jcs.js";
import { signBytes, verifyBytes } from "../trust/signing.js";

export const FACT_TYPES = [
  "speech-act", "rejected", "echo-dropped", "hop-exhausted", "blocked", "duplicate", "failed", "agent-refused", "killed", "revived", "webhook-rejected", "github-failed", "dead-lettered", "agent-failed",
] as const;
export type FactType = (typeof FACT_TYPES)[number];

/** The digest the first fact of a log chains to. */
export const GENESIS = "genesis";
export const RECORDER = "agora-recorder";

export interface Fact {
  id: string;
  type: FactType;
  title: string;
  status: string;
  tags: string[];
  links?: { type: string; target: string }[];
  fields: Record<string, string | number>;
  provenance: { "created-by": string; timestamp: string };
}

/** `FACT-<seq>`: unique, because a fact is written once per stream sequence. */
export function factId(seq: number): string {
  return `FACT-${String(seq).padStart(9, "0")}`;
}

function unsigned(fact: Fact): Fact {
  const { rsig: _rsig, ...fields } = fact.fields;
  return { ...fact, fields };
}

/** sha256 (hex) of a fact without its `rsig`: what `prev` of the next fact holds. */
export function factDigest(fact: Fact): string {
  return createHash("sha256").update(`agora-fact-v1\n${canonicalize(unsigned(fact))}`).digest("hex");
}

/** Set `fields.rsig`: the recorder's signature of the fact's digest. */
export function signFact(fact: Fact, key: KeyObject): Fact {
  fact.fields.rsig = signBytes(key, Buffer.from(factDigest(fact), "utf8"));
  return fact;
}

export function verifyFactSignature(fact: Fact, key: KeyObject): boolean {
  const rsig = fact.fields.rsig;
  return typeof rsig === "string" && verifyBytes(key, Buffer.from(factDigest(fact), "utf8"), rsig);
}
