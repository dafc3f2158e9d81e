// recentFacts: the newest facts of a facts directory, read from the end.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { factFiles } from "../facts/fact-log.js";
import type { Fact } from "../facts/fact.js";

/** The last `limit` facts (optionally of one channel), oldest first. */
export function recentFacts(dir: string, options: { channel?: string; limit: number }): Fact[] {
  const out: Fact[] = [];
  for (const file of factFiles(dir).reverse()) {
    const items = readFileSync(join(dir, file), "utf8")
      .split(/^(?=  - id: )/m)
      .slice(1);
    for (let i = items.length - 1; i >= 0 && out.length < options.limit; i--) {
      let fact: Fact | undefined;
      try {
        fact = (parseYaml(`artifacts:\n${items[i]}`) as { artifacts: Fact[] }).artifacts[0];
      } catch {
        continue; // a record cut short by a crash; `agora facts verify` reports it
      }
      if (fact && (options.channel === undefined || fact.fields.channel === options.channel)) out.push(fact);
    }
    if (out.length >= options.limit) break;
  }
  return out.reverse();
}

/** The fact with this id, or undefined. */
export function findFact(dir: string, id: string): Fact | undefined {
  const needle = `  - id: "${id}"\n`;
  for (const file of factFiles(dir).reverse()) {
    const text = readFileSync(join(dir, file), "utf8");
    const at = text.indexOf(needle);
    if (at === -1) continue;
    const next = text.indexOf("\n  - id: ", at + needle.length);
    try {
      return (parseYaml(`artifacts:\n${text.slice(at, next === -1 ? undefined : next + 1)}`) as { artifacts: Fact[] })
        .artifacts[0];
    } catch {
      return undefined;
    }
  }
  return undefined;
}
