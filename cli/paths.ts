// Where the package lives, wherever this module runs from (sources or dist/).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root: the nearest ancestor holding package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("package.json not found above " + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

/** Built reference agents: `<root>/dist/agents/<name>.wasm`. */
export function builtAgent(name: string): string {
  return join(packageRoot(), "dist", "agents", `${name}.wasm`);
}
