// FactLog: append-only facts files in a directory, rotated by size and day.
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { factDigest, GENESIS, type Fact } from "./fact.js";
import type { HostEventOf } from "../protocol/events.js";
import { inCanary } from "../protocol/rollout.js";
import { factToYaml, FILE_HEADER, yamlString } from "./yaml-writer.js";

export const FACTS_FILE_RE = /^facts-(\d{8})-(\d{4})\.yaml$/;
export const KEYS_FILE = "keys.yaml";

/** Facts files of `dir` in chain order. */
export function factFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => FACTS_FILE_RE.test(f))
    .sort();
}

/** Remembered entries of a map: the oldest is forgotten past this many. */
const REMEMBERED = 100_000;

function bounded(map: Map<string, string>, key: string, value: string): void {
  map.set(key, value);
  if (map.size > REMEMBERED) map.delete(map.keys().next().value!);
}

function day(date = new Date()): string {
  return date.toISOString().slice(0, 10).replaceAll("-", "");
}

/**
 * Parse a facts file record by record. A file cut short by a crash yields its
 * complete records, the torn tail (`partial`) and the byte length of the good
 * prefix. A record is complete when it ends with its provenance line.
 */
export function readFactsFile(text: string): { facts: Fact[]; partial?: string; goodBytes: number; error?: string } {
  const parts = text.split(/^(?=  - id: )/m);
  const head = parts.shift() ?? "";
  const facts: Fact[] = [];
  let goodBytes = Buffer.byteLength(head);
  for (const [i, item] of parts.entries()) {
    const complete = /\n    provenance: \{[^\n]*\}\n$/.test(item);
    let fact: Fact | undefined;
    try {
      fact = complete ? (parseYaml(`artifacts:\n${item}`) as { artifacts: Fact[] }).artifacts[0] : undefined;
    } catch (err) {
      return { facts, partial: parts.slice(i).join(""), goodBytes, error: (err as Error).message.split("\n")[0] };
    }
    if (!fact) return { facts, partial: parts.slice(i).join(""), goodBytes, error: "record cut short" };
    facts.push(fact);
    goodBytes += Buffer.byteLength(item);
  }
  return { facts, goodBytes };
}

export class FactLog {
  readonly dir: string;
  readonly maxFileBytes: number;
  /** Stream sequence of the last recorded fact (0 when empty). */
  lastSeq = 0;
  /** Digest of the last recorded fact. */
  lastDigest = GENESIS;
  /** Envelope id → fact id, for `traces-to` links (most recent 100k). */
  readonly byEnvelope = new Map<string, string>();
  /** Conversation id → its initiator, the sender of the message that opened it (most recent 100k). */
  readonly initiators = new Map<string, string>();
  /**
   * Hosted agent → the component it last started with (agent-started facts): its digest, and a canary's
   * beside it with its share of the conversations, until a canary-rolled-back fact ends it.
   */
  private readonly components = new Map<
    string,
    { digest: string; canary?: { component: string; digest: string; percent: number } }
  >();
  private file?: string;
  private fileBytes = 0;
  private keys = new Map<string, string>();
  /** Set when open() found a record cut short and set it aside. */
  repaired?: { file: string; bytes: number; aside: string };

  constructor(dir: string, maxFileBytes: number) {
    this.dir = dir;
    this.maxFileBytes = maxFileBytes;
  }

  /** Resume after the last complete fact on disk. */
  open(): void {
    mkdirSync(this.dir, { recursive: true });
    const keysPath = join(this.dir, KEYS_FILE);
    if (existsSync(keysPath)) {
      const parsed = parseYaml(readFileSync(keysPath, "utf8")) as { keys?: Record<string, string> } | null;
      for (const [k, v] of Object.entries(parsed?.keys ?? {})) this.keys.set(k, v);
    }
    const files = factFiles(this.dir);
    const last = files.at(-1);
    if (!last) return;
    const path = join(this.dir, last);
    const { facts, partial, goodBytes } = readFactsFile(readFileSync(path, "utf8"));
    if (partial) {
      // Power loss mid-record: keep the complete prefix, set the torn tail aside.
      const aside = `${path}.partial-${Date.now()}`;
      writeFileSync(aside, partial);
      truncateSync(path, goodBytes);
      this.repaired = { file: last, bytes: Buffer.byteLength(partial), aside };
    }
    for (const f of facts) this.remember(f);
    // The newest complete record may be in an earlier file (a crash right after a rotation).
    let tail = facts.at(-1);
    for (let i = files.length - 2; !tail && i >= 0; i--)
      tail = readFactsFile(readFileSync(join(this.dir, files[i]!), "utf8")).facts.at(-1);
    if (tail) {
      this.lastSeq = Number(tail.fields.seq);
      this.lastDigest = factDigest(tail);
    }
    this.file = path;
    this.fileBytes = statSync(path).size;
  }

  /**
   * The digest of the component that produced an act of hosted agent `sender` in conversation `conv`:
   * the canary's when the conversation falls in its share (the rule hosts route by), else the current one's.
   */
  componentOf(sender: string, conv: string): string | undefined {
    const c = this.components.get(sender);
    return c?.canary && inCanary(conv, c.canary.percent) ? c.canary.digest : c?.digest;
  }

  /**
   * Learn from a fact what later facts look up (components, conversation initiators, envelope
   * facts): the recorder calls it as it chains each fact, before the fact is on disk, so the next
   * fact — in the same write or not — sees it.
   */
  remember(f: Fact): void {
    if (f.type === "agent-started" || f.type === "canary-rolled-back") {
      try {
        const e = JSON.parse(String(f.fields.event)) as Partial<HostEventOf<"agent_started">>;
        if (typeof e.agent !== "string") return;
        if (f.type === "canary-rolled-back") {
          // Only the canary it names ends (a late fact of an earlier rollout leaves a newer one alone).
          const c = this.components.get(e.agent);
          if (c?.canary && c.canary.component === e.component) this.components.set(e.agent, { digest: c.digest });
        } else if (typeof e.digest === "string") {
          const { canary: component, canaryDigest: digest, canaryPercent: percent } = e;
          this.components.set(e.agent, {
            digest: e.digest,
            ...(typeof component === "string" && typeof digest === "string" && typeof percent === "number"
              ? { canary: { component, digest, percent } }
              : {}),
          });
        }
      } catch {
        /* a malformed event is the verifier's business */
      }
      return;
    }
    const envId = f.fields["envelope-id"];
    if (f.type === "speech-act" && typeof envId === "string") {
      bounded(this.byEnvelope, envId, f.id);
      // A conversation's initiator sent its opening: the message whose id is the conv, seen before any act
      // that carries it. A conv first used as a label (the bridge's issue-<n>) has none ("", operators only):
      // a message sent later with that label as its id claims nothing. A cancel never opens one.
      const conv = typeof f.fields.conv === "string" ? f.fields.conv : envId;
      if (!this.initiators.has(conv) && f.fields.act !== "cancel")
        bounded(this.initiators, conv, conv === envId ? String(f.fields.sender) : "");
    }
  }

  /** Record `name`'s public key in keys.yaml the first time it signs a fact. */
  noteKey(name: string, publicKey: string): void {
    if (this.keys.get(name) === publicKey) return;
    this.keys.set(name, publicKey);
    const body = [...this.keys]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `  ${k}: ${yamlString(v)}\n`)
      .join("");
    writeFileSync(
      join(this.dir, KEYS_FILE),
      `# public keys seen by the recorder (name: base64url Ed25519)\nkeys:\n${body}`,
    );
  }

  /** Append facts (already chained, signed and remembered), rotating first if needed; `digest`: the last one's, when known. */
  append(facts: Fact[], digest?: string): void {
    if (facts.length === 0) return;
    const text = facts.map(factToYaml).join("");
    const today = day();
    const current = this.file ? basename(this.file).match(FACTS_FILE_RE) : null;
    if (!this.file || !current || current[1] !== today || this.fileBytes + text.length > this.maxFileBytes) {
      const n = current && current[1] === today ? Number(current[2]) + 1 : 0;
      this.file = join(this.dir, `facts-${today}-${String(n).padStart(4, "0")}.yaml`);
      writeFileSync(this.file, FILE_HEADER);
      this.fileBytes = FILE_HEADER.length;
    }
    appendFileSync(this.file, text);
    this.fileBytes += Buffer.byteLength(text);
    const tail = facts.at(-1)!;
    this.lastSeq = Number(tail.fields.seq);
    this.lastDigest = digest ?? factDigest(tail);
  }
}
