// The layers point one way: protocol → config → trust → transport → {host, sdk,
// facts} → {gateway, mcp} → cli. A file may import its own folder and lower layers only;
// protocol/ does no I/O. This walks every import of every source file.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { FACT_TYPES } from "../facts/fact.js";
import { ROOT } from "./helpers/paths.js";

/** Each layer and the layers it may import (besides itself). */
export const LAYERS: Record<string, readonly string[]> = {
  protocol: [],
  config: ["protocol"],
  trust: ["protocol", "config"],
  transport: ["protocol", "config", "trust"],
  host: ["protocol", "config", "trust", "transport"],
  sdk: ["protocol", "config", "trust", "transport"],
  facts: ["protocol", "config", "trust", "transport"],
  gateway: ["protocol", "config", "trust", "transport", "host", "sdk", "facts"],
  mcp: ["protocol", "config", "trust", "transport", "sdk"],
  cli: ["protocol", "config", "trust", "transport", "host", "sdk", "facts", "gateway", "mcp"],
};

/** Packages that do I/O: protocol/ (the wire vocabulary) may use none of them. */
const IO_MODULES =
  /^(node:)?(fs|fs\/promises|net|http|https|child_process|worker_threads|dgram|tls)$|^@nats-io\/|^fastify|^@fastify\//;

const layerOf = (file: string): string | undefined => relative(ROOT, file).split(sep)[0];

/** The problem with `file` importing `spec`, or undefined when the import points the right way. */
export function importProblem(file: string, spec: string, typeOnly: boolean): string | undefined {
  const from = layerOf(file)!;
  if (spec.startsWith(".")) {
    const to = layerOf(resolve(dirname(file), spec));
    if (to === undefined || to === from || !(to in LAYERS)) return undefined;
    return LAYERS[from]!.includes(to) ? undefined : `${from}/ must not import ${to}/ (${spec})`;
  }
  if (from === "protocol" && IO_MODULES.test(spec)) return `protocol/ does no I/O, yet imports ${spec}`;
  if (from === "trust" && spec.startsWith("@nats-io/") && !typeOnly)
    return `trust/ may name NATS types, not use NATS (${spec})`;
  return undefined;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith(".ts") ? [p] : [];
  });
}

function importsOf(text: string): { spec: string; typeOnly: boolean }[] {
  const out: { spec: string; typeOnly: boolean }[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?(?:[^'"]*?\s+from\s+)?["']([^"']+)["']/gm))
    out.push({ spec: m[3]!, typeOnly: Boolean(m[2]) });
  for (const m of text.matchAll(/import\(\s*["']([^"']+)["']\s*\)/g)) out.push({ spec: m[1]!, typeOnly: false });
  return out;
}

describe("architecture", () => {
  it("architecture - every import points down the layers, and protocol/ does no I/O", () => {
    const problems: string[] = [];
    let checked = 0;
    for (const layer of Object.keys(LAYERS)) {
      for (const file of sources(join(ROOT, layer))) {
        for (const { spec, typeOnly } of importsOf(readFileSync(file, "utf8"))) {
          checked++;
          const p = importProblem(file, spec, typeOnly);
          if (p) problems.push(`${relative(ROOT, file)}: ${p}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(300);
    expect(problems).toEqual([]);
  });

  it("architecture - the check catches a wrong-way import", () => {
    expect(importProblem(join(ROOT, "protocol", "envelope.ts"), "../host/host.js", false)).toMatch(
      /protocol\/ must not import host\//,
    );
    expect(importProblem(join(ROOT, "transport", "publisher.ts"), "../host/metrics.js", false)).toMatch(
      /transport\/ must not import host\//,
    );
    expect(importProblem(join(ROOT, "host", "host.ts"), "../gateway/app.js", true)).toMatch(
      /host\/ must not import gateway\//,
    );
    expect(importProblem(join(ROOT, "host", "host.ts"), "../sdk/client.js", false)).toMatch(
      /host\/ must not import sdk\//,
    );
    expect(importProblem(join(ROOT, "protocol", "ids.ts"), "node:fs", false)).toMatch(/no I\/O/);
    expect(importProblem(join(ROOT, "trust", "x.ts"), "@nats-io/kv", false)).toMatch(/not use NATS/);
    expect(importProblem(join(ROOT, "gateway", "app.ts"), "../host/metrics.js", true)).toBeUndefined();
    expect(
      importProblem(join(ROOT, "host", "runtime", "admit.ts"), "../workers/worker-pool.js", false),
    ).toBeUndefined();
  });

  it("architecture - the facts schema declares exactly the fact types the event table yields", () => {
    const schema = parseYaml(readFileSync(join(ROOT, "facts", "schemas", "agora.yaml"), "utf8")) as {
      "artifact-types": { name: string }[];
    };
    expect(schema["artifact-types"].map((t) => t.name).sort()).toEqual([...FACT_TYPES].sort());
  });
});
