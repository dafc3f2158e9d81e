// The published package: `npm pack` gives a tarball that installs into a fresh,
// empty project, where `import { connect } from "agora"` type-checks, and the
// example external agent (examples/echo-agent.ts) answers requests beside the
// installed `agora up`.
import { describe, expect, it } from "vitest";
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "../../sdk/index.js";
import { until } from "../helpers/agora.js";
import { ROOT } from "../helpers/paths.js";

const npm = (args: string[], cwd: string) => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: "pipe" });

describe("sdk - the package", () => {
  it("sdk - npm pack installs into an empty project; the example type-checks and answers beside agora up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agora-fresh-"));
    const children: ReturnType<typeof spawn>[] = [];
    try {
      npm(["pack", "--ignore-scripts", "--pack-destination", dir], ROOT);
      const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"))!;
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "fresh", private: true, type: "module" }));
      npm(["install", `./${tarball}`, "@types/node@20", "--prefer-offline", "--no-audit", "--no-fund"], dir);
      copyFileSync(join(ROOT, "examples", "echo-agent.ts"), join(dir, "echo-agent.ts"));
      writeFileSync(
        join(dir, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            target: "ES2022",
            module: "nodenext",
            moduleResolution: "nodenext",
            strict: true,
            types: ["node"],
            outDir: "out",
          },
          files: ["echo-agent.ts"],
        }),
      );
      // Type-checks (with the package's own declarations) and compiles.
      execFileSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", dir], {
        encoding: "utf8",
      });
      writeFileSync(
        join(dir, "agora.yaml"),
        `data: ./data
nats: { port: 0 }
channels: { build-coord: {} }
external:
  echo: { read: [build-coord], write: [build-coord] }
  maintainer: { read: [build-coord], write: [build-coord] }
`,
      );
      const run = (cmd: string, args: string[], env: Record<string, string> = {}) => {
        const env_ = { ...process.env, ...env };
        delete env_.NATS_URL;
        const child = spawn(cmd, args, { cwd: dir, env: env_, stdio: ["ignore", "pipe", "pipe"] });
        children.push(child);
        const out = { text: "" };
        child.stdout!.on("data", (d) => (out.text += d));
        child.stderr!.on("data", (d) => (out.text += d));
        return out;
      };
      // The installed CLI.
      const up = run(process.execPath, [
        join(dir, "node_modules", "agora", "dist", "cli", "main.js"),
        "up",
        "--no-gateway",
      ]);
      await until(() => up.text.includes("Ctrl-C stops"), 30_000, `agora up:\n${up.text}`);
      const echo = run(process.execPath, [join(dir, "out", "echo-agent.js")], { AGORA_CONFIG: "agora.yaml" });
      await until(() => echo.text.includes("listening"), 15_000, `the example:\n${echo.text}`);
      await using maintainer = await connect({ name: "maintainer", config: join(dir, "agora.yaml") });
      const [answer] = await maintainer.request("build-coord", "request", { task: "pack" }, { timeoutMs: 10_000 });
      expect(answer).toMatchObject({ sender: "echo", act: "agree", hop: 2, body: { echo: { task: "pack" } } });
      await until(() => /answered maintainer's request \S+/.test(echo.text), 5000, "the example's log line");
    } finally {
      for (const c of children) c.kill("SIGINT");
      await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r)))));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
