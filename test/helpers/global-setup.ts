// Build the reference agents and the test fixtures once (skipped when present).
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { AGENTS_OUT, buildComponent, referenceAgents, WIT_DIR } from "../../agent/build.js";
import { FIXTURES, FIXTURES_OUT, ROOT } from "./paths.js";
import { aptInstall, ensureNatsServer } from "../../transport/nats-server.js";

/** Fixture components: name → built with WASI stubbed? */
export const FIXTURE_COMPONENTS: Record<string, { stubWasi: boolean }> = {
  acker: { stubWasi: true },
  alarm: { stubWasi: true },
  counter: { stubWasi: true },
  hog: { stubWasi: true },
  spinner: { stubWasi: true },
  rogue: { stubWasi: true },
  trapper: { stubWasi: true },
  "wasi-importer": { stubWasi: false },
};

/** True when `out` is missing or older than `src` or the WIT world it is built against. */
function stale(src: string, out: string): boolean {
  if (!existsSync(out)) return true;
  const built = statSync(out).mtimeMs;
  return built < statSync(src).mtimeMs || built < statSync(join(WIT_DIR, "agora.wit")).mtimeMs;
}

export default async function setup(): Promise<void> {
  // The tests start their own nats-server: find it, or install it the way `agora up` does (apt-get, as root).
  const log = (line: string) => console.log(`test setup: ${line}`);
  ensureNatsServer({ install: true, log });
  // The console test drives Debian's chromium (playwright-core downloads no browser).
  if (!process.env.CHROMIUM_PATH && !existsSync("/usr/bin/chromium")) aptInstall("chromium", log);
  for (const name of referenceAgents()) {
    const out = join(AGENTS_OUT, `${name}.wasm`);
    const entry = join(ROOT, "agent", name, `${name}.ts`);
    if (stale(entry, out)) await buildComponent({ entry, out });
  }
  for (const [name, { stubWasi }] of Object.entries(FIXTURE_COMPONENTS)) {
    const out = join(FIXTURES_OUT, `${name}.wasm`);
    const entry = join(FIXTURES, name, `${name}.ts`);
    if (stale(entry, out)) await buildComponent({ entry, out, stubWasi });
  }
}
