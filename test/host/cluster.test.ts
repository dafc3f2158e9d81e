// A 3-node NATS cluster (R3 stream and buckets) and two host processes placing
// four counting agents by lease. Kill -9 a host: its agents resume on the other.
// Add it back: agents rebalance. Kill -9 a NATS node: traffic continues. Drain a
// host: its agents move. Every phase counts each message exactly once per agent.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgoraClient } from "../../sdk/client.js";
import { parseConfig, type AgoraConfig } from "../../config/config.js";
import { KeyRegistry } from "../../trust/key-registry.js";
import { KeyStore } from "../../trust/key-store.js";
import { openInfrastructure, type Infrastructure } from "../../transport/infrastructure.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { until } from "../helpers/agora.js";
import {
  counted,
  describeTally,
  expectExactlyOnce,
  hostProcess,
  sendAll,
  type HostProcess,
} from "../helpers/counting.js";
import { startCluster, type TestCluster } from "../helpers/nats-cluster.js";
import { fixtureWasm, ROOT } from "../helpers/paths.js";
import { readPlacement } from "../../host/placement/leases.js";
import { connectNats } from "../../transport/connect.js";
import { ensureIdentityKeys, writeAuthorization } from "../../transport/embedded.js";
import { ADMIN_IDENTITY } from "../../protocol/names.js";
import { CLI_ARGS } from "../helpers/cli.js";

const COUNTERS = ["c1", "c2", "c3", "c4"];
const LEASE_TTL_MS = 3000;

describe("cluster", { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let dir: string;
  let file: string;
  let config: AgoraConfig;
  let nc: NatsConnection;
  let infra: Infrastructure;
  let sender: AgoraClient;
  let senderNc: NatsConnection | undefined;
  const hosts = new Map<string, HostProcess>();
  /** Messages sent so far: each counter must have counted exactly this many. */
  let total = 0;

  const startHost = async (name: string) => {
    const h = hostProcess(file, { AGORA_HOST_NAME: name, NATS_URL: cluster.url });
    hosts.set(name, h);
    await h.ready;
    return h;
  };
  /** `f`, retried while NATS fails over (the test kills nodes). */
  const settled = async <T>(f: () => Promise<T>, ms = 30_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      try {
        return await f();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
  /** Which host holds each counter's lease. */
  const placement = () =>
    settled(async () => {
      const { leases } = await readPlacement(infra.leases);
      return Object.fromEntries(COUNTERS.map((c) => [c, leases.get(c)?.host ?? "-"]));
    });
  /** How many counters each host holds, e.g. "h1:2 h2:2". */
  const spread = async () => {
    const n = new Map<string, number>();
    for (const h of Object.values(await placement())) n.set(h, (n.get(h) ?? 0) + 1);
    return [...n]
      .sort()
      .map(([h, k]) => `${h}:${k}`)
      .join(" ");
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "agora-cluster-test-"));
    file = join(dir, "agora.yaml");
    const raw = {
      data: join(dir, "data"),
      nats: { replicas: 3 },
      hosts: ["h1", "h2"],
      host: { workers: 1 },
      channels: { work: null, out: null },
      agents: Object.fromEntries(
        COUNTERS.map((c) => [c, { component: fixtureWasm("counter"), read: ["work"], write: ["out"] }]),
      ),
      external: { sender: { write: ["work"] } },
      limits: { ackWait: "3s", leaseTtl: `${LEASE_TTL_MS}ms` },
    };
    writeFileSync(file, JSON.stringify(raw));
    // Auth on, as deployed: every node enforces the generated authorization; each host logs in with its key.
    const draft = parseConfig(raw, { baseDir: dir, env: {} });
    ensureIdentityKeys(draft);
    writeAuthorization(draft, join(dir, "auth.conf"));
    cluster = await startCluster(3, { args: ["-c", join(dir, "auth.conf")] });
    config = parseConfig(raw, { baseDir: dir, env: { NATS_URL: cluster.url } });
    nc = await connectNats({
      url: cluster.url,
      name: "cluster-test",
      identity: new KeyStore(config.keysDir).load(ADMIN_IDENTITY),
    });
    infra = await openInfrastructure(nc, config, { create: true });
    const store = new KeyStore(config.keysDir);
    for (const name of ["sender", config.gateway.identity])
      await KeyRegistry.publish(infra.keys, name, store.loadOrGenerate(name).publicKey);
    senderNc = await connectNats({ url: cluster.url, name: "sender", identity: store.load("sender") });
    sender = new AgoraClient(senderNc, store.load("sender"));
  }, 60_000);

  afterAll(async () => {
    if (process.env.AGORA_TEST_LOGS)
      for (const [name, h] of hosts) writeFileSync(join(process.env.AGORA_TEST_LOGS, `${name}.log`), h.output());
    for (const h of hosts.values()) h.child.kill("SIGKILL");
    await Promise.all([...hosts.values()].map((h) => h.exited));
    await nc?.drain().catch(() => {});
    await senderNc?.drain().catch(() => {});
    await cluster?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("cluster - the stream and every bucket are replicated on 3 nodes", async () => {
    const stream = await infra.jsm.streams.info("AGORA");
    expect(stream.config.num_replicas).toBe(3);
    expect(1 + (stream.cluster?.replicas?.length ?? 0)).toBe(3);
    for (const b of ["agora-keys", "agora-state", "agora-processed", "agora-control", "agora-agents", "agora-leases"]) {
      expect((await infra.jsm.streams.info(`KV_${b}`)).config.num_replicas, b).toBe(3);
    }
  });

  it("cluster - a second host takes its share; kill -9 one host: its agents resume on the other, nothing lost or doubled", async () => {
    await startHost("h1");
    expect(await spread()).toBe("h1:4");
    await startHost("h2");
    await until(async () => (await spread()) === "h1:2 h2:2", 20_000, "rebalance to 2 + 2");
    const before = await placement();
    const N = 200;
    let killedAt = 0;
    await sendAll(sender, N, async (i) => {
      if (i === 80) {
        hosts.get("h1")!.child.kill("SIGKILL");
        await hosts.get("h1")!.exited;
        killedAt = Date.now();
      }
    });
    await until(async () => Object.values(await placement()).every((h) => h === "h2"), 30_000, "agents to move to h2");
    const movedMs = Date.now() - killedAt;
    total += N;
    const t = await counted(infra, COUNTERS, total, 60_000);
    console.log(
      `cluster: placement ${JSON.stringify(before)}; kill -9 of h1 → all agents on h2 ${movedMs} ms later (lease TTL ${LEASE_TTL_MS} ms); ${N} sent: ${describeTally(t)}`,
    );
    expect(movedMs).toBeLessThan(LEASE_TTL_MS + 10_000);
    expectExactlyOnce(t, total);
  });

  it("cluster - a host that comes back takes its share again while traffic flows, nothing lost or doubled", async () => {
    const N = 150;
    await sendAll(sender, N, async (i) => {
      if (i === 30) await startHost("h1");
    });
    await until(async () => (await spread()) === "h1:2 h2:2", 20_000, "rebalance to 2 + 2");
    total += N;
    const t = await counted(infra, COUNTERS, total, 60_000);
    console.log(
      `cluster: h1 rejoined mid-stream → ${JSON.stringify(await placement())}; ${N} sent: ${describeTally(t)}`,
    );
    expectExactlyOnce(t, total);
  });

  it("cluster - kill -9 one NATS node mid-stream: traffic continues on the other two, nothing lost or doubled", async () => {
    const N = 200;
    let killed = -1;
    await sendAll(sender, N, async (i) => {
      if (i === 60) {
        killed = 1;
        await cluster.kill(killed);
      }
    });
    total += N;
    const t = await counted(infra, COUNTERS, total, 90_000);
    console.log(
      `cluster: NATS node n${killed + 1} killed (kill -9) after 60 of ${N}; 2 of 3 nodes up: ${describeTally(t)}; placement ${JSON.stringify(await placement())}`,
    );
    expectExactlyOnce(t, total);
    // Bring the node back and wait until every replica of the stream and the leases is current again.
    await cluster.start(killed);
    await until(
      async () =>
        (
          await Promise.all(
            ["AGORA", "KV_agora-leases"].map((st) =>
              infra.jsm.streams.info(st).then(
                (i) => (i.cluster?.replicas ?? []).length === 2 && i.cluster!.replicas!.every((r) => r.current),
                () => false,
              ),
            ),
          )
        ).every(Boolean),
      60_000,
      `node n${killed + 1} to catch up`,
    );
  });

  it("cluster - agora host drain moves every agent off a host while traffic flows, nothing lost or doubled", async () => {
    const N = 150;
    // Placement settles first: a rebalance still under way would move agents off h2 without the drain.
    await until(async () => (await spread()) === "h1:2 h2:2", 30_000, "a balanced placement");
    const before = await placement();
    let sent = 0;
    // Paced (about 25 ms apart) so the drain runs while messages keep arriving.
    const drained = sendAll(sender, N, async (i) => {
      sent = i;
      await new Promise((r) => setTimeout(r, 25));
    });
    await until(() => sent >= 30, 30_000, "traffic");
    const sentAtDrain = sent;
    // Async, so the sender keeps sending while the drain runs.
    const drain = await promisify(execFile)(
      process.execPath,
      [...CLI_ARGS, "host", "drain", "h2", "--config", file, "--wait", "30s"],
      {
        cwd: ROOT,
        env: { ...process.env, NATS_URL: cluster.url },
        timeout: 60_000,
      },
    ).then(
      (r) => ({ ...r, status: 0 }),
      (e: { stdout?: string; stderr?: string; code?: number }) => ({
        stdout: e.stdout ?? "",
        stderr: e.stderr ?? String(e),
        status: e.code ?? 1,
      }),
    );
    const sentAfterDrain = sent;
    await drained;
    total += N;
    const t = await counted(infra, COUNTERS, total, 60_000);
    console.log(
      `cluster: agora host drain h2 while messages ${sentAtDrain}..${sentAfterDrain} of ${N} were sent → ${JSON.stringify(await placement())}\n${drain.stdout}${drain.stderr}${describeTally(t)}`,
    );
    expect(drain.status, String(drain.stderr)).toBe(0);
    expect(drain.stdout).toMatch(/host h2 drained in \d+ ms\n/);
    for (const [c, h] of Object.entries(before)) if (h === "h2") expect(drain.stdout).toContain(`${c}: h2 → h1`);
    expect(await spread()).toBe("h1:4");
    expectExactlyOnce(t, total);
  });
});
