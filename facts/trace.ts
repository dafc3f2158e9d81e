// The facts about one message, for its delivery status (transport/delivery.ts):
// the message itself, the decisions about it, the answers to it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { factFiles } from "./fact-log.js";
import type { Fact } from "./fact.js";

/** Facts naming `id`: as the message itself, as a decision about it, or as an answer to it. */
export function traceFacts(dir: string, id: string): Fact[] {
  const out: Fact[] = [];
  for (const file of factFiles(dir)) {
    const text = readFileSync(join(dir, file), "utf8");
    if (!text.includes(id)) continue;
    for (const item of text.split(/^(?=  - id: )/m).slice(1)) {
      if (!item.includes(id)) continue;
      try {
        const f = (parseYaml(`artifacts:\n${item}`) as { artifacts: Fact[] }).artifacts[0];
        if (f && (f.fields["envelope-id"] === id || f.fields.re === id)) out.push(f);
      } catch {
        /* a record cut short by a crash: `agora facts verify` reports it */
      }
    }
  }
  return out;
}
