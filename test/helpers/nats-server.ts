// A real nats-server for one test file: random port, temp JetStream store, cleaned up on dispose.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsServer } from "../../transport/nats-server.js";

export interface TestNats {
  server: NatsServer;
  url: string;
  storeDir: string;
  /** Restart on the same store (after stop or a crash). */
  restart(): Promise<void>;
  /** Stop the server: SIGTERM, or SIGKILL (`hard`) as in a crash. */
  stop(options?: { hard?: boolean }): Promise<void>;
  /** Start it again on the same port and store. */
  start(): Promise<void>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** `args`: extra nats-server arguments (e.g. `-c auth.conf`), kept across restarts. */
export async function startNats(options: { args?: string[]; logFile?: string } = {}): Promise<TestNats> {
  const storeDir = mkdtempSync(join(tmpdir(), "agora-nats-"));
  const { args, logFile } = options;
  let server = await NatsServer.start({ storeDir, port: 0, args, logFile });
  const t: TestNats = {
    server,
    url: server.url,
    storeDir,
    async restart() {
      await t.stop();
      await t.start();
    },
    async stop(options) {
      await server.stop(options);
    },
    async start() {
      server = await NatsServer.start({ storeDir, port: server.port, args, logFile });
      t.server = server;
    },
    async close() {
      await server.stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
    [Symbol.asyncDispose]: () => t.close(),
  };
  return t;
}
