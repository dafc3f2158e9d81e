// docs/errors.md lists exactly the codes of host/errors.ts, and the code uses no other.
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ERROR_CODES } from "../../protocol/errors.js";
import { ROOT } from "../helpers/paths.js";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith(".ts") ? [p] : [];
  });
}

describe("docs", () => {
  it("docs - errors.md lists every error code, and only those", () => {
    const doc = readFileSync(join(ROOT, "docs", "errors.md"), "utf8");
    const listed = [...doc.matchAll(/^\| `(AGORA_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it("docs - every AGORA_ERR_ code used in the sources is declared", () => {
    const declared = new Set(Object.keys(ERROR_CODES));
    for (const dir of [
      "protocol",
      "config",
      "trust",
      "transport",
      "host",
      "sdk",
      "facts",
      "cli",
      "gateway",
      "mcp",
      "agent",
    ]) {
      for (const file of sources(join(ROOT, dir))) {
        for (const m of readFileSync(file, "utf8").matchAll(/AGORA_ERR_[A-Z_]*[A-Z]/g)) {
          expect(declared.has(m[0]), `${m[0]} in ${file}`).toBe(true);
        }
      }
    }
  });

  it("docs - errors.md gives each code the HTTP status the gateway answers with", () => {
    const doc = readFileSync(join(ROOT, "docs", "errors.md"), "utf8");
    const rows = [...doc.matchAll(/^\| `(AGORA_ERR_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(rows).toEqual(Object.entries(ERROR_CODES).map(([code, e]) => [code, e.status]));
  });
});
