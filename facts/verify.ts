// verifyFacts: YAML, rivet artifact format (against the schema), chain, and every signature.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import type { KeyObject } from "node:crypto";
import type { ErrorCode } from "../protocol/errors.js";
import { eventSigningInput, type SignedEvent } from "../protocol/events.js";
import { validateEnvelope } from "../protocol/envelope.js";
import { publicKeyObject, verifyEnvelope, verifyBytes } from "../trust/signing.js";
import { factDigest, factId, GENESIS, verifyFactSignature, type Fact } from "./fact.js";
import { factFiles, KEYS_FILE, readFactsFile } from "./fact-log.js";
import { RECORDER_IDENTITY } from "./recorder.js";

export const SCHEMA_PATH = fileURLToPath(new URL("./schemas/agora.yaml", import.meta.url));

export interface FactProblem {
  file: string;
  fact?: string;
  code: ErrorCode;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  dir: string;
  files: number;
  facts: number;
  firstSeq?: number;
  lastSeq?: number;
  /** Stream sequences with no fact, as inclusive ranges. */
  missing: [number, number][];
  problems: FactProblem[];
  /** Where the public keys came from. */
  keySource: string;
  /** True when the keys came from the facts directory itself: then only self-consistency is proven. */
  selfKeyed: boolean;
  /** A file that ends in a record cut short. */
  truncated?: { file: string; after?: string; bytes: number };
}

interface FieldSpec {
  name: string;
  type: string;
  required?: boolean;
  "allowed-values"?: string[];
}

function loadSchema(): Map<string, FieldSpec[]> {
  const doc = parseYaml(readFileSync(SCHEMA_PATH, "utf8")) as {
    "artifact-types": { name: string; fields: FieldSpec[] }[];
  };
  return new Map(doc["artifact-types"].map((t) => [t.name, t.fields]));
}

const ARTIFACT_KEYS = new Set([
  "id",
  "type",
  "title",
  "status",
  "tags",
  "links",
  "fields",
  "provenance",
  "description",
]);

/** Check one artifact against the rivet shape and the agora schema; returns problems as strings. */
export function checkArtifact(a: unknown, schema: Map<string, FieldSpec[]>): string[] {
  if (typeof a !== "object" || a === null || Array.isArray(a)) return ["artifact is not a mapping"];
  const f = a as Record<string, unknown>;
  const out: string[] = [];
  for (const k of Object.keys(f)) if (!ARTIFACT_KEYS.has(k)) out.push(`unknown artifact key ${k}`);
  for (const k of ["id", "type", "title"]) if (typeof f[k] !== "string" || f[k] === "") out.push(`${k} is required`);
  // agora writes provenance last: a record without it was cut short.
  if (typeof f.provenance !== "object" || f.provenance === null) out.push("provenance is missing (record cut short?)");
  if (f.tags !== undefined && (!Array.isArray(f.tags) || f.tags.some((t) => typeof t !== "string")))
    out.push("tags must be a list of strings");
  if (f.links !== undefined) {
    if (!Array.isArray(f.links)) out.push("links must be a list");
    else
      for (const l of f.links)
        if (typeof l?.type !== "string" || typeof l?.target !== "string") out.push("each link needs type and target");
  }
  const specs = schema.get(String(f.type));
  if (!specs) return [...out, `type ${String(f.type)} is not declared in the agora schema`];
  const fields = f.fields as Record<string, unknown> | undefined;
  if (typeof fields !== "object" || fields === null) return [...out, "fields is required"];
  const known = new Set(specs.map((s) => s.name));
  for (const k of Object.keys(fields)) if (!known.has(k)) out.push(`field ${k} is not declared for ${String(f.type)}`);
  for (const s of specs) {
    const v = fields[s.name];
    if (v === undefined) {
      if (s.required) out.push(`field ${s.name} is required`);
      continue;
    }
    if (s.type === "integer" ? !Number.isInteger(v) : typeof v !== "string")
      out.push(`field ${s.name} must be ${s.type}`);
    if (s["allowed-values"] && !s["allowed-values"].includes(String(v)))
      out.push(`field ${s.name}: ${String(v)} is not allowed`);
  }
  return out;
}

/** Public keys: `--keys` file or directory, else the recorder's keys.yaml in the facts directory. */
function loadKeys(dir: string, keysPath?: string): { keys: Map<string, KeyObject>; source: string } {
  const keys = new Map<string, KeyObject>();
  const path = keysPath ?? join(dir, KEYS_FILE);
  if (!existsSync(path)) return { keys, source: `none (${path} missing)` };
  const doc = parseYaml(readFileSync(path, "utf8")) as { keys?: Record<string, string> } | null;
  for (const [name, raw] of Object.entries(doc?.keys ?? {})) {
    try {
      keys.set(name, publicKeyObject(raw));
    } catch {
      /* reported when a fact needs it */
    }
  }
  return { keys, source: path };
}

/**
 * Verify a facts directory: each file is YAML with an `artifacts:` list of
 * rivet artifacts conforming to facts/schemas/agora.yaml; ids match their
 * sequence; each fact's `prev` is the digest of the one before (edits,
 * deletions and reordering break it); `rsig` verifies with the recorder's key;
 * speech acts verify with their sender's key and host decisions with the host's.
 */
export function verifyFacts(dir: string, options: { keys?: string } = {}): VerifyReport {
  const schema = loadSchema();
  const { keys, source } = loadKeys(dir, options.keys);
  const report: VerifyReport = {
    ok: true,
    dir,
    files: 0,
    facts: 0,
    missing: [],
    problems: [],
    keySource: source,
    selfKeyed: options.keys === undefined,
  };
  const problem = (file: string, code: ErrorCode, message: string, fact?: string) =>
    report.problems.push({ file, code, message, fact });
  const recorderKey = keys.get(RECORDER_IDENTITY);
  let prevDigest = GENESIS;
  let prevSeq: number | undefined;
  const files = factFiles(dir);
  if (files.length === 0) problem(dir, "AGORA_ERR_FACTS_FORMAT", "no facts-*.yaml files");
  for (const file of files) {
    report.files++;
    const text = readFileSync(join(dir, file), "utf8");
    let doc: unknown;
    let artifacts: unknown;
    try {
      doc = parseYaml(text);
      artifacts = (doc as { artifacts?: unknown })?.artifacts;
      if (!Array.isArray(artifacts) || Object.keys(doc as object).length !== 1) {
        problem(file, "AGORA_ERR_FACTS_FORMAT", "top level must be exactly `artifacts:` with a list");
        continue;
      }
    } catch (err) {
      // Not YAML as a whole: a record cut short (power loss)? Verify the complete ones and say what is torn.
      const parsed = readFactsFile(text);
      if (!parsed.partial || (parsed.facts.length === 0 && !text.startsWith("# agora facts"))) {
        problem(file, "AGORA_ERR_FACTS_FORMAT", `not valid YAML: ${(err as Error).message.split("\n")[0]}`);
        continue;
      }
      const after = parsed.facts.at(-1)?.id ?? "the start of the file";
      problem(
        file,
        "AGORA_ERR_FACTS_FORMAT",
        `record after ${after} is cut short (${Buffer.byteLength(parsed.partial)} bytes at byte ${parsed.goodBytes}); facts from there on are missing`,
      );
      report.truncated = { file, after: parsed.facts.at(-1)?.id, bytes: Buffer.byteLength(parsed.partial) };
      artifacts = parsed.facts;
    }
    for (const a of artifacts as unknown[]) {
      report.facts++;
      const shape = checkArtifact(a, schema);
      const fact = a as Fact;
      const label = typeof fact?.id === "string" ? fact.id : `#${report.facts}`;
      if (shape.length > 0) {
        for (const s of shape) problem(file, "AGORA_ERR_FACTS_FORMAT", s, label);
        continue;
      }
      const seq = fact.fields.seq as number;
      if (fact.id !== factId(seq)) problem(file, "AGORA_ERR_FACTS_FORMAT", `id does not match seq ${seq}`, label);
      if (prevSeq !== undefined && seq <= prevSeq)
        problem(file, "AGORA_ERR_FACTS_CHAIN", `seq ${seq} after ${prevSeq}: out of order`, label);
      if (prevSeq !== undefined && seq > prevSeq + 1) {
        report.missing.push([prevSeq + 1, seq - 1]);
        problem(
          file,
          "AGORA_ERR_FACTS_CHAIN",
          `facts for seq ${prevSeq + 1 === seq - 1 ? prevSeq + 1 : `${prevSeq + 1}–${seq - 1}`} are missing`,
          label,
        );
      }
      if (fact.fields.prev !== prevDigest) {
        problem(
          file,
          "AGORA_ERR_FACTS_CHAIN",
          "prev is not the digest of the preceding fact (edited, deleted or reordered)",
          label,
        );
      }
      report.firstSeq ??= seq;
      report.lastSeq = seq;
      prevSeq = seq;
      prevDigest = factDigest(fact);
      if (!recorderKey || !verifyFactSignature(fact, recorderKey)) {
        problem(
          file,
          "AGORA_ERR_FACTS_SIGNATURE",
          recorderKey ? "recorder signature does not verify (fact edited)" : "no recorder key",
          label,
        );
      }
      checkInnerSignature(fact, keys, (msg) => problem(file, "AGORA_ERR_FACTS_SIGNATURE", msg, label));
    }
  }
  report.ok = report.problems.length === 0;
  return report;
}

function checkInnerSignature(fact: Fact, keys: Map<string, KeyObject>, fail: (msg: string) => void): void {
  const f = fact.fields;
  if (fact.type === "speech-act") {
    const key = keys.get(String(f.sender));
    if (!key) return fail(`no public key for sender ${String(f.sender)}`);
    let body: unknown;
    try {
      body = JSON.parse(String(f.body));
    } catch {
      return fail("body is not JSON text");
    }
    try {
      const env = validateEnvelope({
        v: 1,
        id: f["envelope-id"],
        channel: f.channel,
        sender: f.sender,
        act: f.act,
        body,
        hop: f.hop,
        ts: f.ts,
        ...(f.re !== undefined ? { re: f.re } : {}),
        ...(f.conv !== undefined ? { conv: f.conv } : {}),
        sig: f.sig,
      });
      if (!verifyEnvelope(key, env)) fail(`sender signature of ${String(f.sender)} does not verify`);
    } catch (err) {
      fail(`envelope fields invalid: ${(err as Error).message}`);
    }
  } else if (fact.type !== "rejected") {
    let event: SignedEvent;
    try {
      event = JSON.parse(String(f.event)) as SignedEvent;
    } catch {
      return fail("event is not JSON text");
    }
    const key = keys.get(String(f.host));
    if (!key) return fail(`no public key for host ${String(f.host)}`);
    if (event.host !== f.host || event.agent !== f.agent || !verifyBytes(key, eventSigningInput(event), event.sig)) {
      fail(`host signature of ${String(f.host)} does not verify`);
    }
  }
}
