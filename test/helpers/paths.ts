import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const AGENTS = join(ROOT, "dist", "agents");
export const FIXTURES = join(ROOT, "test", "fixtures");
