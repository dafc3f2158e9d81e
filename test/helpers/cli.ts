// `agora <args>` from the TypeScript sources, against a test deployment's NATS.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "./paths.js";

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/**
 * How tests run `agora`: from the sources through tsx (the default), or — with AGORA_TEST_CLI=dist, as CI
 * sets it right after building — the compiled CLI, about a second faster per process.
 */
export const CLI_ARGS: readonly string[] =
  process.env.AGORA_TEST_CLI === "dist"
    ? [join(ROOT, "dist", "cli", "main.js")]
    : ["--import", "tsx", join(ROOT, "cli", "main.ts")];

/** Run the CLI with NATS_URL = `natsUrl`; resolves with its exit code and output, never rejects on a failing exit. */
export function runCli(natsUrl: string, ...args: string[]): Promise<CliRun> {
  return promisify(execFile)(process.execPath, [...CLI_ARGS, ...args], {
    cwd: ROOT,
    env: { ...process.env, NATS_URL: natsUrl },
    timeout: 60_000,
  }).then(
    (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === "number" ? e.code : 1,
      out: e.stdout ?? "",
      err: e.stderr ?? "",
    }),
  );
}
