// NatsServer: launch a local `nats-server -js` (embedded default, and tests).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync } from "node:fs";
import { delimiter, join } from "node:path";
import { AgoraError } from "../protocol/errors.js";

export interface NatsServerOptions {
  /** Port to listen on; 0 picks a free one. @default 0 */
  port?: number;
  /** @default "127.0.0.1" */
  host?: string;
  /** JetStream store directory (created if missing). */
  storeDir: string;
  /** Extra nats-server arguments. */
  args?: string[];
  /** Milliseconds to wait for readiness. @default 10000 */
  timeoutMs?: number;
  /** Append the server's log to this file (default: discarded once it is ready). */
  logFile?: string;
  /** A config file that enables JetStream itself (`jetstream { store_dir }`): run from it, reloadable. */
  configFile?: string;
}

/** Path of the nats-server binary, or undefined when none is on PATH. */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.NATS_SERVER_BIN && existsSync(env.NATS_SERVER_BIN)) return env.NATS_SERVER_BIN;
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, "nats-server");
    if (dir && existsSync(candidate)) return candidate;
  }
  for (const candidate of ["/usr/bin/nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server"]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

const INSTALL_HINT =
  "install it with: sudo apt-get update && sudo apt-get install -y nats-server " +
  "(or put a nats-server v2.9+ binary on PATH, or set NATS_URL to an existing server)";

/**
 * The nats-server binary; when missing and `install` is set and we are root,
 * installs Debian's package with apt-get, else throws with the exact command.
 */
export function ensureNatsServer(options: { install?: boolean; log?: (line: string) => void } = {}): string {
  const found = findNatsServer();
  if (found) return found;
  if (options.install && aptInstall("nats-server", options.log)) {
    const installed = findNatsServer();
    if (installed) return installed;
  }
  throw new AgoraError("AGORA_ERR_NATS_SERVER_MISSING", `nats-server is not installed; ${INSTALL_HINT}`);
}

/**
 * Install a Debian package with apt-get when we are root on a Debian/Ubuntu
 * machine (the only package source besides npm that agora relies on). True when
 * it was installed; false when it could not be (not root, no apt-get, apt-get failed).
 */
export function aptInstall(pkg: string, log: (line: string) => void = () => {}): boolean {
  if (process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) return false;
  log(`${pkg} not found: installing Debian's ${pkg} package with apt-get …`);
  for (const args of [
    ["update", "-qq"],
    ["install", "-y", "-qq", pkg],
  ]) {
    const r = spawnSync("apt-get", args, {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
    if (r.status !== 0) {
      log(`apt-get ${args.join(" ")} failed (exit ${r.status})`);
      return false;
    }
  }
  return true;
}

/** A running nats-server child process. */
export class NatsServer {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  readonly storeDir: string;
  private exited: Promise<void>;
  /** Waiting for the outcome of a reload: the server logs it. */
  private reloading?: { resolve(): void; reject(err: Error): void };

  private constructor(proc: ChildProcess, port: number, host: string, storeDir: string) {
    this.process = proc;
    this.port = port;
    this.url = `nats://${host}:${port}`;
    this.storeDir = storeDir;
    this.exited = new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once("exit", () => resolve());
    });
    proc.stderr?.on("data", (chunk: string) => {
      if (/Reloaded server configuration/.test(chunk)) this.reloading?.resolve();
      const failed = /Failed to reload server configuration: (.*)/.exec(chunk);
      if (failed) this.reloading?.reject(new AgoraError("AGORA_ERR_NATS_SERVER_START", `reload failed: ${failed[1]}`));
    });
  }

  /** Make the server re-read its config file (SIGHUP) and wait until it has. */
  async reload(timeoutMs = 5000): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new AgoraError("AGORA_ERR_NATS_SERVER_START", "reload timed out")),
        timeoutMs,
      );
      this.reloading = {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (err) => (clearTimeout(timer), reject(err)),
      };
    });
    this.process.kill("SIGHUP");
    try {
      await done;
    } finally {
      this.reloading = undefined;
    }
  }

  /** Start a server and wait until it accepts clients. */
  static async start(options: NatsServerOptions): Promise<NatsServer> {
    const bin = ensureNatsServer();
    const host = options.host ?? "127.0.0.1";
    mkdirSync(options.storeDir, { recursive: true });
    const args = [
      ...(options.configFile ? ["-c", options.configFile] : ["-js", "-sd", options.storeDir]),
      "-a",
      host,
      "-p",
      String(options.port ? options.port : -1),
      ...(options.args ?? []),
    ];
    const proc = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
    const timeoutMs = options.timeoutMs ?? 10_000;
    const port = await new Promise<number>((resolve, reject) => {
      let log = "";
      const timer = setTimeout(() => fail(`did not become ready within ${timeoutMs} ms`), timeoutMs);
      const fail = (why: string) => {
        clearTimeout(timer);
        proc.kill("SIGKILL");
        reject(new AgoraError("AGORA_ERR_NATS_SERVER_START", `nats-server ${why}:\n${log.slice(-2000)}`));
      };
      proc.once("error", (err) => fail(`failed to spawn (${err.message})`));
      proc.once("exit", (code) => fail(`exited with code ${code}`));
      let listening: number | undefined;
      proc.stderr!.setEncoding("utf8");
      proc.stderr!.on("data", (chunk: string) => {
        log += chunk;
        if (log.length > 100_000) log = log.slice(-50_000);
        const m = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
        if (m && listening === undefined) listening = Number(m[1]);
        if (listening !== undefined && /Server is ready/.test(log)) {
          clearTimeout(timer);
          proc.removeAllListeners("exit");
          proc.removeAllListeners("error");
          proc.stderr!.removeAllListeners("data");
          if (options.logFile) {
            const file = createWriteStream(options.logFile, { flags: "a" });
            file.write(log);
            proc.stderr!.pipe(file);
          } // else the instance's reload listener keeps the stream flowing
          resolve(listening);
        }
      });
    });
    // A server we started never outlives us, even if nobody stops it.
    const reap = () => proc.kill("SIGKILL");
    process.once("exit", reap);
    proc.once("exit", () => process.off("exit", reap));
    return new NatsServer(proc, port, host, options.storeDir);
  }

  /** Stop the server: SIGTERM (clean) or SIGKILL (`hard`, a crash). */
  async stop(options: { hard?: boolean } = {}): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      this.process.kill(options.hard ? "SIGKILL" : "SIGTERM");
      const timer = setTimeout(() => this.process.kill("SIGKILL"), 5000);
      await this.exited;
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    return this.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
