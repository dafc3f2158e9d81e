// Facts: parse as YAML, conform to the rivet artifact format and schema, verify; tampering fails.
import { beforeAll, afterAll, describe, expect, it } from "vitest";
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, parseDocument } from "yaml";
import { factFiles } from "../../facts/fact-log.js";
import type { Fact } from "../../facts/fact.js";
import { checkArtifact, SCHEMA_PATH, verifyFacts } from "../../facts/verify.js";
import { yamlString } from "../../facts/yaml-writer.js";
import { startAgora, until, type TestAgora } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";

let a: TestAgora;
let dir: string;

function copyFacts(): string {
  const d = mkdtempSync(join(tmpdir(), "agora-facts-"));
  cpSync(dir, d, { recursive: true });
  return d;
}

function onlyFile(d: string): string {
  return join(d, factFiles(d)[0]!);
}

beforeAll(async () => {
  a = await startAgora({
    channels: ["build-coord"],
    agents: {
      "chatty-a": { component: agentWasm("chatty"), read: ["build-coord"], write: ["build-coord"] },
      "chatty-b": { component: agentWasm("chatty"), read: ["build-coord"], write: ["build-coord"] },
    },
    external: { maintainer: { write: ["build-coord"] } },
  });
  await a.startRecorder();
  const host = await a.startHost();
  const m = await a.client("maintainer");
  // A body that tries to break out of its YAML scalar.
  await m.send("build-coord", "request", { evil: '"\n- id: FACT-X\n  type: speech-act\u2028\u0085 ]}: &a *a #', n: 1 });
  await a.infra.js.publish("agora.ch.build-coord", "not json at all");
  await until(() => host.counters.hop_exhausted >= 2, 10_000, "cascade");
  await new Promise((r) => setTimeout(r, 200));
  await a.stopHost(); // the self-echo drops of its last window are recorded as it closes
  await a.settleFacts();
  dir = a.config.factsDir;
});

afterAll(async () => {
  await a?.close();
});

describe("facts", () => {
  it("facts - every file parses as YAML and every artifact conforms to the rivet format and the agora schema", () => {
    const schemaDoc = parseYaml(readFileSync(SCHEMA_PATH, "utf8")) as {
      schema: { name: string };
      "artifact-types": { name: string }[];
    };
    expect(schemaDoc.schema.name).toBe("agora");
    const schema = new Map(
      schemaDoc["artifact-types"].map((t) => [t.name, (t as unknown as { fields: never[] }).fields]),
    );
    const files = factFiles(dir);
    expect(files.length).toBeGreaterThan(0);
    const all: Fact[] = [];
    for (const f of files) {
      const doc = parseDocument(readFileSync(join(dir, f), "utf8"));
      expect(doc.errors).toEqual([]);
      const artifacts = (doc.toJS() as { artifacts: Fact[] }).artifacts;
      for (const art of artifacts) expect(checkArtifact(art, schema)).toEqual([]);
      all.push(...artifacts);
    }
    const types = new Set(all.map((x) => x.type));
    for (const t of ["speech-act", "rejected", "echo-dropped", "hop-exhausted"]) expect(types).toContain(t);
    expect(new Set(all.map((x) => x.id)).size).toBe(all.length);
    const evil = all.find((x) => x.type === "speech-act" && x.fields.sender === "maintainer")!;
    expect(JSON.parse(String(evil.fields.body)).evil).toContain("- id: FACT-X"); // stayed inside its scalar
    expect(all.some((x) => x.id === "FACT-X")).toBe(false);
    const replies = all.filter((x) => x.type === "speech-act" && x.fields.re === evil.fields["envelope-id"]);
    expect(replies.length).toBe(2);
    for (const r of replies) expect(r.links).toEqual([{ type: "traces-to", target: evil.id }]);
  });

  it("facts - yamlString round-trips hostile strings", () => {
    for (const s of [
      "",
      'a"b',
      "\\",
      "\n- x: y",
      "\u2028\u2029\u0085\u0000\u001f",
      "😀 é",
      "#: &a *a !!str",
      "\ud800",
    ]) {
      expect(parseYaml(`v: ${yamlString(s)}`).v).toBe(s);
    }
  });

  it("facts - the recorded log verifies", () => {
    const report = verifyFacts(dir);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.missing).toEqual([]);
    expect(report.facts).toBeGreaterThanOrEqual(10);
  });

  it("facts - an edited body fails verification (signatures)", () => {
    const d = copyFacts();
    const file = onlyFile(d);
    writeFileSync(file, readFileSync(file, "utf8").replace('\\"n\\":1', '\\"n\\":2'));
    const report = verifyFacts(d);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code)).toContain("AGORA_ERR_FACTS_SIGNATURE");
  });

  it("facts - a deleted fact breaks the chain and is reported missing", () => {
    const d = copyFacts();
    const file = onlyFile(d);
    const text = readFileSync(file, "utf8");
    const items = text.split(/(?=^  - id: )/m);
    items.splice(3, 1); // drop the third artifact
    writeFileSync(file, items.join(""));
    const report = verifyFacts(d);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code)).toContain("AGORA_ERR_FACTS_CHAIN");
    expect(report.missing).toEqual([[3, 3]]);
  });

  it("facts - reordered facts break the chain", () => {
    const d = copyFacts();
    const file = onlyFile(d);
    const items = readFileSync(file, "utf8").split(/(?=^  - id: )/m);
    [items[2], items[3]] = [items[3]!, items[2]!];
    writeFileSync(file, items.join(""));
    const report = verifyFacts(d);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code)).toContain("AGORA_ERR_FACTS_CHAIN");
  });

  it("facts - an edited enforcement fact fails the recorder signature", () => {
    const d = copyFacts();
    const file = onlyFile(d);
    writeFileSync(file, readFileSync(file, "utf8").replace(/agent: "chatty-a"/, 'agent: "chatty-b"'));
    const report = verifyFacts(d);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code)).toContain("AGORA_ERR_FACTS_SIGNATURE");
  });

  it("facts - a file that is not YAML or not rivet-shaped is reported", () => {
    const d = copyFacts();
    writeFileSync(onlyFile(d), "artifacts: [ {id: FACT-1, type: speech-act\n");
    expect(verifyFacts(d).problems.map((p) => p.code)).toContain("AGORA_ERR_FACTS_FORMAT");
    const d2 = copyFacts();
    writeFileSync(
      onlyFile(d2),
      "artifacts:\n  - id: FACT-000000001\n    type: not-a-type\n    title: x\n    fields: {}\n",
    );
    expect(verifyFacts(d2).problems.map((p) => p.code)).toContain("AGORA_ERR_FACTS_FORMAT");
    expect(readdirSync(d2)).toContain("keys.yaml");
  });
});
