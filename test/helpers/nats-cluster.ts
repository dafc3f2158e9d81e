// A 3-node nats-server cluster (JetStream, routes) on loopback ports, for one test file.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsServer } from "../../transport/nats-server.js";

export interface TestCluster {
  nodes: (NatsServer | undefined)[];
  /** Every node's client URL, comma-separated (what NATS_URL takes). */
  url: string;
  /** kill -9 node `i`. */
  kill(i: number): Promise<void>;
  /** Start node `i` again on its port and store. */
  start(i: number): Promise<void>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** `args`: extra nats-server arguments for every node (e.g. `-c auth.conf`). */
export async function startCluster(size = 3, options: { args?: string[] } = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "agora-cluster-"));
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
  }
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(",");
  const nodes: (NatsServer | undefined)[] = new Array(size).fill(undefined);
  const startNode = async (i: number) => {
    nodes[i] = await NatsServer.start({
      storeDir: join(dir, `n${i + 1}`),
      port: clientPorts[i],
      ...(process.env.AGORA_TEST_LOGS ? { logFile: join(process.env.AGORA_TEST_LOGS, `n${i + 1}.log`) } : {}),
      args: [
        "--server_name",
        `n${i + 1}`,
        "--cluster_name",
        "agora-test",
        "--cluster",
        `nats://127.0.0.1:${routePorts[i]}`,
        "--routes",
        routes,
        ...(options.args ?? []),
      ],
    });
  };
  await Promise.all(nodes.map((_, i) => startNode(i)));
  const c: TestCluster = {
    nodes,
    url: clientPorts.map((p) => `nats://127.0.0.1:${p}`).join(","),
    async kill(i) {
      await nodes[i]?.stop({ hard: true });
      nodes[i] = undefined;
    },
    start: startNode,
    async close() {
      await Promise.all(nodes.map((n) => n?.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
    [Symbol.asyncDispose]: () => c.close(),
  };
  return c;
}
