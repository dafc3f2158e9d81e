// Build the reference agents once if `npm run build` has not.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { AGENTS_OUT, buildComponent, referenceAgents } from "../../agent/build.js";
import { ROOT } from "./paths.js";

export default async function setup(): Promise<void> {
  for (const name of referenceAgents()) {
    const out = join(AGENTS_OUT, `${name}.wasm`);
    if (!existsSync(out)) await buildComponent({ entry: join(ROOT, "agent", name, `${name}.ts`), out });
  }
}
