// Fact: one rivet artifact — its shape, digest, and the recorder's signature.
import { createHash, type KeyObject } from "node:crypto";
import { canonicalize } from "../protocol/jcs.js";
import { EVENT_FACTS, type EventFactType } from "../protocol/events.js";
import { signBytes, verifyBytes } from "../trust/signing.js";

/** A speech act that crossed a channel, a message the first control refused, or a recorded host event. */
export type FactType = "speech-act" | "rejected" | EventFactType;
/** Every fact type: the two of the stream, then one per recorded event (the event table decides). */
export const FACT_TYPES: readonly FactType[] = [
  "speech-act",
  "rejected",
  ...[...EVENT_FACTS.values()].map((f) => f.type),
];

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
  return createHash("sha256")
    .update(`agora-fact-v1\n${canonicalize(unsigned(fact))}`)
    .digest("hex");
}

/** Set `fields.rsig`: the recorder's signature of the fact's digest. */
export function signFact(fact: Fact, key: KeyObject): Fact {
  return signDigest(fact, factDigest(fact), key);
}

/** signFact with the fact's digest already computed (the recorder chains the next fact to it). */
export function signDigest(fact: Fact, digest: string, key: KeyObject): Fact {
  fact.fields.rsig = signBytes(key, Buffer.from(digest, "utf8"));
  return fact;
}

export function verifyFactSignature(fact: Fact, key: KeyObject): boolean {
  const rsig = fact.fields.rsig;
  return typeof rsig === "string" && verifyBytes(key, Buffer.from(factDigest(fact), "utf8"), rsig);
}
