// Build agent components: bundle TypeScript with rolldown, then componentize
// with QuickJS (componentize-qjs, WASI stubbed, sync runtime).
//   tsx agent/build.ts [name …]   → dist/agents/<name>.wasm
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { componentize } from "componentize-qjs";
import { build } from "rolldown";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const WIT_DIR = join(ROOT, "wit");
export const AGENTS_OUT = join(ROOT, "dist", "agents");

export interface BuildComponentOptions {
  /** The agent's TypeScript (or JavaScript) entry. */
  entry: string;
  /** Output .wasm path. */
  out: string;
  /** Stub every WASI import with a trap. Only fixtures that test the load-time audit turn this off. @default true */
  stubWasi?: boolean;
  /** WIT directory. @default wit/ */
  wit?: string;
  /** @default "agent" */
  world?: string;
}

/** Bundle and componentize one agent. Returns the component's size in bytes. */
export async function buildComponent(options: BuildComponentOptions): Promise<number> {
  const bundle = await build({
    input: options.entry,
    external: [/^agora:/],
    output: { format: "esm" },
    write: false,
    logLevel: "silent",
  });
  const code = bundle.output.map((chunk) => ("code" in chunk ? chunk.code : "")).join("\n");
  const { component } = await componentize({
    witPath: options.wit ?? WIT_DIR,
    jsSource: code,
    world: options.world ?? "agent",
    stubWasi: options.stubWasi ?? true,
    sync: true,
  });
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, component);
  return component.byteLength;
}

/** The reference agents: every folder under agent/ with a `<name>/<name>.ts`. */
export function referenceAgents(): string[] {
  const dir = join(ROOT, "agent");
  return readdirSync(dir).filter((n) => {
    try {
      return statSync(join(dir, n, `${n}.ts`)).isFile();
    } catch {
      return false;
    }
  });
}

async function main(): Promise<void> {
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : referenceAgents();
  for (const name of names) {
    const started = Date.now();
    const out = join(AGENTS_OUT, `${name}.wasm`);
    const bytes = await buildComponent({ entry: join(ROOT, "agent", name, `${name}.ts`), out });
    console.log(`agent ${name}: ${(bytes / 1024 / 1024).toFixed(2)} MiB in ${Date.now() - started} ms → ${out}`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`agent build failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
