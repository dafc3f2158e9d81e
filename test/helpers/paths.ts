// Paths the tests use: the checkout, built agents, fixtures and their builds.
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const AGENTS = join(ROOT, "dist", "agents");
export const FIXTURES = join(ROOT, "test", "fixtures");
export const FIXTURES_OUT = join(ROOT, "dist", "test-fixtures");
export const agentWasm = (name: string) => join(AGENTS, `${name}.wasm`);
export const fixtureWasm = (name: string) => join(FIXTURES_OUT, `${name}.wasm`);
