// ComponentLoader: read, audit and compile a component once per digest.
import { DEFAULTS } from "../../config/defaults.js";
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import v8 from "node:v8";
import { AgoraError } from "../../protocol/errors.js";
import { capMemory, pagesFor } from "./wasm-memory.js";

// QuickJS components use extended-const; Node 20 needs the flag before any compile.
v8.setFlagsFromString("--experimental-wasm-extended-const");

/** The only interfaces a component may import. Everything else is refused at load. */
export const ALLOWED_IMPORTS: ReadonlySet<string> = new Set([
  "agora:agent/channels",
  "agora:agent/state",
  "agora:agent/timers",
  "agora:agent/types",
]);

/** A component ready to instantiate: its JS glue on disk and compiled core modules. */
export interface LoadedComponent {
  /** sha256 of the component bytes, plus `:<pages>` of its memory cap. */
  digest: string;
  path: string;
  gluePath: string;
  modules: Record<string, WebAssembly.Module>;
  imports: string[];
  bytes: number;
}

/** Strip the `@version` from an import name (`agora:agent/state@0.1.0`). */
function unversioned(name: string): string {
  const at = name.indexOf("@");
  return at === -1 ? name : name.slice(0, at);
}

/** The imports of a component that are outside agora:agent. */
export function forbiddenImports(imports: readonly string[]): string[] {
  return imports.filter((i) => !ALLOWED_IMPORTS.has(unversioned(i)));
}

/** Default linear-memory limit of an agent. @default 64 MiB */
export const DEFAULT_MEMORY_BYTES = DEFAULTS.limits.agentMemoryMb * 1024 * 1024;

interface Transpiled {
  path: string;
  gluePath: string;
  imports: string[];
  wasm: Record<string, Uint8Array>;
  bytes: number;
}

export class ComponentLoader {
  private readonly transpiled = new Map<string, Promise<Transpiled>>();
  private readonly cache = new Map<string, Promise<LoadedComponent>>();
  readonly cacheDir: string;

  constructor(cacheDir = join(tmpdir(), `agora-components-${process.getuid?.() ?? "u"}`)) {
    this.cacheDir = cacheDir;
  }

  /**
   * Load the component at `path`: transpile with jco (async instantiation),
   * refuse it when it imports anything outside agora:agent or lacks `handle`,
   * compile its core modules. Cached per sha256 digest of the bytes.
   */
  async load(path: string, options: { memoryBytes?: number } = {}): Promise<LoadedComponent> {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (cause) {
      throw new AgoraError(
        "AGORA_ERR_COMPONENT_LOAD",
        `cannot read component ${path}: ${(cause as Error).message}; build the agents with 'npm run build'`,
        { cause },
      );
    }
    return this.loadBytes(path, bytes, options);
  }

  /** Load a component's `bytes` (from the registry, say), named `path` in errors. */
  async loadBytes(path: string, bytes: Uint8Array, options: { memoryBytes?: number } = {}): Promise<LoadedComponent> {
    const digest = createHash("sha256").update(bytes).digest("hex");
    let t = this.transpiled.get(digest);
    if (!t) {
      t = this.transpile(path, digest, bytes);
      this.transpiled.set(digest, t);
      t.catch(() => this.transpiled.delete(digest));
    }
    const pages = pagesFor(options.memoryBytes ?? DEFAULT_MEMORY_BYTES);
    const key = `${digest}:${pages}`;
    let loaded = this.cache.get(key);
    if (!loaded) {
      loaded = t.then((tr) => this.compile(tr, key, pages));
      this.cache.set(key, loaded);
      loaded.catch(() => this.cache.delete(key));
    }
    return loaded;
  }

  /** Compile the core modules with every defined memory capped at `pages`. */
  private async compile(t: Transpiled, key: string, pages: number): Promise<LoadedComponent> {
    const modules: Record<string, WebAssembly.Module> = {};
    for (const [file, data] of Object.entries(t.wasm)) {
      let capped: Uint8Array;
      try {
        capped = capMemory(data, pages);
      } catch (cause) {
        throw new AgoraError("AGORA_ERR_COMPONENT_LOAD", `${t.path}: ${(cause as Error).message}`, { cause });
      }
      modules[file] = await WebAssembly.compile(new Uint8Array(capped));
    }
    return { digest: key, path: t.path, gluePath: t.gluePath, modules, imports: t.imports, bytes: t.bytes };
  }

  private async transpile(path: string, digest: string, bytes: Uint8Array): Promise<Transpiled> {
    const { transpile } = await import("@bytecodealliance/jco");
    const name = "component";
    let out: Awaited<ReturnType<typeof transpile>>;
    try {
      out = await transpile(bytes, { name, instantiation: "async", noTypescript: true });
    } catch (cause) {
      throw new AgoraError(
        "AGORA_ERR_COMPONENT_LOAD",
        `${path} is not a valid component: ${(cause as Error).message}`,
        { cause },
      );
    }
    const imports = [...(out.imports as string[])];
    const forbidden = forbiddenImports(imports);
    if (forbidden.length > 0) {
      throw new AgoraError(
        "AGORA_ERR_COMPONENT_IMPORTS",
        `${path} imports ${forbidden.join(", ")}; a component may import only agora:agent (build it with --stub-wasi)`,
      );
    }
    const exports = (out.exports as [string, string][]).map(([n]) => n);
    if (!exports.includes("handle")) {
      throw new AgoraError(
        "AGORA_ERR_COMPONENT_LOAD",
        `${path} does not export handle; it must target world agora:agent/agent`,
      );
    }
    const wasm: Record<string, Uint8Array> = {};
    for (const [file, data] of Object.entries(out.files as Record<string, Uint8Array>)) {
      if (file.endsWith(".wasm")) wasm[file] = data;
    }
    mkdirSync(this.cacheDir, { recursive: true, mode: 0o700 });
    // The glue is imported into the workers: a directory another user could write to (a predictable name
    // under /tmp) could hold glue planted for a known digest. Only our own, private directory; and the
    // glue is written every time, never taken as found.
    const dir = lstatSync(this.cacheDir);
    if (!dir.isDirectory() || (process.getuid && dir.uid !== process.getuid()) || (dir.mode & 0o077) !== 0)
      throw new AgoraError(
        "AGORA_ERR_COMPONENT_LOAD",
        `${this.cacheDir} is not a private directory of this user (mode ${(dir.mode & 0o777).toString(8)}); remove it`,
      );
    const gluePath = join(this.cacheDir, `${digest}.mjs`);
    const tmp = `${gluePath}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    writeFileSync(tmp, (out.files as Record<string, Uint8Array>)[`${name}.js`]!, { mode: 0o600 });
    renameSync(tmp, gluePath);
    return { path, gluePath, imports, wasm, bytes: bytes.byteLength };
  }
}
