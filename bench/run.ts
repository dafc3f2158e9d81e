// npm run bench: agora against raw JetStream in the same run, on its own nats-server.
// Prints a table and writes bench/results.json. `--quick` shortens every phase.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import * as ed from "@noble/ed25519";
import { AckPolicy, DeliverPolicy, jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { AgoraClient } from "../sdk/client.js";
import { parseConfig, type AgoraConfig } from "../config/config.js";
import { parseEnvelope, signingInput } from "../protocol/envelope.js";
import type { HostEvent } from "../protocol/events.js";
import { Host } from "../host/host.js";
import { KeyRegistry } from "../trust/key-registry.js";
import { KeyStore } from "../trust/key-store.js";
import { ensureInfrastructure } from "../transport/infrastructure.js";
import type { NatsServer } from "../transport/nats-server.js";
import { builtAgent } from "../cli/paths.js";
import {
  generateRawKeyPair,
  privateKeyObject,
  publicKeyObject,
  signEnvelope,
  verifyEnvelope,
} from "../trust/signing.js";
import { pullLoop } from "../transport/pull-loop.js";
import { Recorder } from "../facts/recorder.js";
import { Gateway } from "../gateway/gateway.js";
import { STREAM } from "../protocol/subjects.js";
import { connectNats } from "../transport/connect.js";
import { reloadConfiguredNats, startConfiguredNats } from "../transport/embedded.js";
import { ADMIN_IDENTITY, RECORDER_IDENTITY } from "../protocol/names.js";

const QUICK = process.argv.includes("--quick");
const PAYLOAD = { task: "build", detail: "x".repeat(200) };
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

interface Results {
  machine: { cpus: number; model: string; memGiB: number; node: string; nats: string };
  crypto: { nodeVerifyPerSec: number; nobleVerifyPerSec: number };
  raw: { msgsPerSec: number; messages: number; lanes: number };
  agora: { msgsPerSec: number; messages: number; lanes: number; ratio: number };
  latency: { offered: number; achieved: number; p50: number; p99: number; p999: number; n: number }[];
  agents: { count: number; instantiateMs: number; rssMiBPerAgent: number; totalRssMiB: number }[];
  kill: { queued: number; deliveriesAfterReturn: number; lastStartAfterReturnMs: number; callMs: number };
}

async function waitFor(ok: () => boolean, what: string, ms = 180_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function round(n: number, d = 1): number {
  return Math.round(n * 10 ** d) / 10 ** d;
}

// Auth is on, as in `agora up`: each phase's config gets its generated
// authorization (the server reloads it on SIGHUP) and every role — admin, host,
// recorder, gateway, the bench's external agent — logs in with its own key.
let server: NatsServer;
let configFile: string;

/** The bench's config for a phase, with the server's authorization brought to it (reloaded). */
async function secure(dir: string, spec: Record<string, unknown>): Promise<AgoraConfig> {
  const config = parseConfig({ data: join(dir, "data"), host: { workers: 2 }, ...spec }, { baseDir: dir, env: {} });
  if (server) await reloadConfiguredNats(server, config, configFile);
  return config;
}

function login(config: AgoraConfig, identity: string, url = server.url): Promise<NatsConnection> {
  return connectNats({ url, name: `bench-${identity}`, identity: new KeyStore(config.keysDir).load(identity) });
}

interface Phase {
  config: AgoraConfig;
  /** The admin's connection. */
  nc: NatsConnection;
  /** A connection logged in as `identity`. */
  connect(identity: string): Promise<NatsConnection>;
  /** Drain every connection of the phase. */
  close(): Promise<void>;
}

async function agora(dir: string, url: string, spec: Record<string, unknown>): Promise<Phase> {
  const config = await secure(dir, spec);
  const conns: NatsConnection[] = [];
  const connect = async (identity: string) => {
    const c = await login(config, identity, url);
    conns.push(c);
    return c;
  };
  const nc = await connect(ADMIN_IDENTITY);
  await ensureInfrastructure(nc, { dedupWindowMs: config.limits.dedupWindowMs });
  return { config, nc, connect, close: () => Promise.all(conns.map((c) => c.drain())).then(() => {}) };
}

async function purge(nc: NatsConnection): Promise<void> {
  const infra = await ensureInfrastructure(nc, { dedupWindowMs: 600_000 });
  await infra.jsm.streams.purge(STREAM).catch(() => {});
}

// --- crypto -------------------------------------------------------------------------
async function crypto(): Promise<Results["crypto"]> {
  const pair = generateRawKeyPair();
  const env = signEnvelope(privateKeyObject(pair), {
    v: 1,
    id: "bench",
    channel: "c",
    sender: "s",
    act: "inform",
    body: PAYLOAD,
    hop: 3,
    ts: new Date().toISOString(),
  });
  const key = publicKeyObject(pair.publicKey);
  const n = QUICK ? 2000 : 20_000;
  let t = performance.now();
  for (let i = 0; i < n; i++) verifyEnvelope(key, env);
  const nodeRate = n / ((performance.now() - t) / 1000);
  const pub = Buffer.from(pair.publicKey, "base64url");
  const sig = Buffer.from(env.sig, "base64url");
  const bytes = signingInput(env);
  const m = QUICK ? 200 : 2000;
  t = performance.now();
  for (let i = 0; i < m; i++) await ed.verifyAsync(sig, bytes, pub);
  const nobleRate = m / ((performance.now() - t) / 1000);
  return { nodeVerifyPerSec: Math.round(nodeRate), nobleVerifyPerSec: Math.round(nobleRate) };
}

// --- raw JetStream: publish → durable consume → ack → republish ----------------------
async function raw(dir: string, url: string, lanes: number, messages: number): Promise<Results["raw"]> {
  // The same server and login as agora's phases; raw JetStream needs the admin's rights for its own stream.
  const nc = await login(await secure(dir, { channels: {} }), ADMIN_IDENTITY, url);
  const infra = await ensureInfrastructure(nc, { dedupWindowMs: 600_000 });
  await infra.jsm.streams.add({ name: "RAW", subjects: ["raw.>"] }).catch(() => {});
  const js: JetStreamClient = jetstream(nc);
  const body = JSON.stringify({
    v: 1,
    id: "x".repeat(22),
    channel: "raw",
    sender: "s",
    act: "request",
    body: PAYLOAD,
    hop: 3,
    ts: new Date().toISOString(),
    sig: "s".repeat(86),
  });
  let republished = 0;
  let closing = false;
  const loops: Promise<void>[] = [];
  for (let l = 0; l < lanes; l++) {
    await infra.jsm.consumers.add("RAW", {
      durable_name: `raw_${l}`,
      filter_subject: `raw.in.${l}`,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
    });
    const consumer = await js.consumers.get("RAW", `raw_${l}`);
    loops.push(
      pullLoop(
        consumer,
        async (m) => {
          await js.publish(`raw.out.${l}`, m.data, { msgID: `o${m.seq}` });
          m.ack();
          republished++;
        },
        { closing: () => closing },
      ),
    );
  }
  const t0 = performance.now();
  await produce(messages, (i) => js.publish(`raw.in.${i % lanes}`, body, { msgID: `i${i}` }));
  await waitFor(() => republished >= messages, "every message republished");
  const secs = (performance.now() - t0) / 1000;
  closing = true;
  await Promise.all(loops);
  await infra.jsm.streams.delete("RAW");
  await nc.drain();
  return { msgsPerSec: Math.round(messages / secs), messages, lanes };
}

/** Publish `n` messages with up to 256 in flight. */
async function produce(n: number, send: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < n) await send(next++);
    }),
  );
}

// --- agora: signed inject → verify → controls → component → signed reply → fact ------
async function agoraThroughput(
  dir: string,
  url: string,
  lanes: number,
  messages: number,
): Promise<Omit<Results["agora"], "ratio">> {
  const channels = Array.from({ length: lanes }, (_, i) => `lane-${i}`);
  const { config, nc, connect, close } = await agora(dir, url, {
    channels: Object.fromEntries(channels.map((c) => [c, null])),
    agents: Object.fromEntries(
      channels.map((c, i) => [`responder-${i}`, { component: builtAgent("responder"), read: [c], write: [c] }]),
    ),
    external: { bench: { write: channels } },
  });
  const infra = await ensureInfrastructure(nc, { dedupWindowMs: 600_000 });
  const id = new KeyStore(config.keysDir).loadOrGenerate("bench");
  await KeyRegistry.publish(infra.keys, "bench", id.publicKey);
  const recorder = await Recorder.start({ config, nc: await connect(RECORDER_IDENTITY) });
  const host = await Host.start({ config, nc: await connect(config.host.name) });
  const keys = new Map<string, ReturnType<typeof publicKeyObject>>();
  for (const a of config.agents) keys.set(a.name, publicKeyObject((await infra.keys.get(a.name))!.string()));
  let verified = 0;
  const sub = nc.subscribe("agora.ch.*", {
    callback: (_e, m) => {
      const env = parseEnvelope(m.data);
      if (env.sender !== "bench" && verifyEnvelope(keys.get(env.sender)!, env)) verified++;
    },
  });
  const client = new AgoraClient(await connect("bench"), id);
  const t0 = performance.now();
  await produce(messages, (i) => client.send(channels[i % lanes]!, "request", PAYLOAD, { hop: 1 }));
  await waitFor(() => verified >= messages, "every reply verified");
  log(
    `  replies verified after ${((performance.now() - t0) / 1000).toFixed(2)} s; facts so far ${recorder.facts.lastSeq}`,
  );
  const last = (await infra.jsm.streams.info(STREAM)).state.last_seq;
  await recorder.waitFor(last, 120_000);
  const secs = (performance.now() - t0) / 1000;
  sub.unsubscribe();
  await host.close();
  await recorder.close();
  await close();
  return { msgsPerSec: Math.round(messages / secs), messages, lanes };
}

// --- latency at offered loads ---------------------------------------------------------
async function latency(
  dir: string,
  url: string,
  offered: number,
  seconds: number,
): Promise<Results["latency"][number]> {
  const { config, nc, connect, close } = await agora(dir, url, {
    channels: { lat: null },
    agents: { responder: { component: builtAgent("responder"), read: ["lat"], write: ["lat"] } },
    external: { bench: { write: ["lat"] } },
  });
  const infra = await ensureInfrastructure(nc, { dedupWindowMs: 600_000 });
  const id = new KeyStore(config.keysDir).loadOrGenerate("bench");
  await KeyRegistry.publish(infra.keys, "bench", id.publicKey);
  const host = await Host.start({ config, nc: await connect(config.host.name) });
  const responderKey = publicKeyObject((await infra.keys.get("responder"))!.string());
  const sentAt = new Map<string, number>();
  const lat: number[] = [];
  const sub = nc.subscribe("agora.ch.lat", {
    callback: (_e, m) => {
      const env = parseEnvelope(m.data);
      if (env.sender !== "responder" || !env.re || !verifyEnvelope(responderKey, env)) return;
      const t = sentAt.get(env.re);
      if (t !== undefined) lat.push(performance.now() - t);
    },
  });
  const client = new AgoraClient(await connect("bench"), id);
  const total = offered * seconds;
  const t0 = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / offered;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const envId = `l${offered}-${i}`;
    sentAt.set(envId, performance.now());
    pending.push(client.send("lat", "request", PAYLOAD, { hop: 1, id: envId }));
  }
  await Promise.all(pending);
  const deadline = performance.now() + 30_000;
  while (lat.length < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const achieved = lat.length / ((performance.now() - t0) / 1000);
  sub.unsubscribe();
  await host.close();
  await close();
  const sorted = [...lat].sort((a, b) => a - b);
  return {
    offered,
    achieved: Math.round(Math.min(achieved, offered)),
    p50: round(percentile(sorted, 50), 2),
    p99: round(percentile(sorted, 99), 2),
    p999: round(percentile(sorted, 99.9), 2),
    n: lat.length,
  };
}

// --- hosted agents on one host ----------------------------------------------------------
async function manyAgents(dir: string, url: string, count: number): Promise<Results["agents"][number]> {
  const channels = ["many"];
  const { config, connect, close } = await agora(dir, url, {
    channels: { many: null },
    agents: Object.fromEntries(
      Array.from({ length: count }, (_, i) => [
        `agent-${i}`,
        { component: builtAgent("responder"), read: channels, write: channels },
      ]),
    ),
  });
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const host = await Host.start({ config, nc: await connect(config.host.name) });
  const ms = performance.now() - t0;
  global.gc?.();
  const rss = process.memoryUsage().rss;
  const started = host.runtimes.size;
  await host.close();
  await close();
  if (started !== count) throw new Error(`only ${started} of ${count} agents started`);
  return {
    count,
    instantiateMs: round(ms / count, 2),
    rssMiBPerAgent: round((rss - rss0) / count / 1024 / 1024, 2),
    totalRssMiB: Math.round(rss / 1024 / 1024),
  };
}

// --- kill switch with ≥ 10,000 queued -------------------------------------------------------
async function kill(dir: string, url: string, queued: number): Promise<Results["kill"]> {
  const { config, nc, connect, close } = await agora(dir, url, {
    channels: { flood: null },
    agents: { voter: { component: builtAgent("voter"), read: ["flood"], write: ["flood"] } },
    external: { operator: { write: ["flood"] }, bench: { write: ["flood"] } },
  });
  const infra = await ensureInfrastructure(nc, { dedupWindowMs: 600_000 });
  const id = new KeyStore(config.keysDir).loadOrGenerate("bench");
  await KeyRegistry.publish(infra.keys, "bench", id.publicKey);
  const host = await Host.start({ config, nc: await connect(config.host.name) });
  const events: HostEvent[] = [];
  void (async () => {
    for await (const e of host.events.subscribe()) events.push(e);
  })();
  const g = await Gateway.create({
    config,
    nc: await connect(config.gateway.identity),
    tokens: { viewer: "v".repeat(20), operator: "o".repeat(20), generated: false },
  });
  const client = new AgoraClient(await connect("bench"), id);
  await produce(queued + 500, () => client.send("flood", "inform", { n: 1 }, { hop: 0 }));
  const delivered = () => events.filter((e): e is Extract<HostEvent, { type: "delivered" }> => e.type === "delivered");
  await waitFor(() => delivered().length >= 100, "deliveries to start");
  const info = await infra.jsm.consumers.info(STREAM, "agent_voter_flood");
  const now = () => performance.timeOrigin + performance.now();
  const called = now();
  await g.app.inject({
    method: "POST",
    url: "/api/kill",
    headers: { authorization: `Bearer ${"o".repeat(20)}` },
    payload: { agent: "voter" },
  });
  const returned = now();
  await new Promise((r) => setTimeout(r, 1000));
  const after = delivered().filter((e) => e.at > returned);
  const lastStart = Math.max(...delivered().map((e) => e.at));
  await g.close();
  await host.close();
  await close();
  return {
    queued: info.num_pending + info.num_ack_pending,
    deliveriesAfterReturn: after.length,
    lastStartAfterReturnMs: round(Math.max(0, lastStart - returned), 2),
    callMs: round(returned - called, 1),
  };
}

function table(r: Results): string {
  const rows: [string, string, string][] = [
    [
      "raw JetStream pipeline (publish → consume → ack → republish)",
      `${r.raw.msgsPerSec.toLocaleString("en")} msgs/s`,
      `${r.raw.lanes} lanes`,
    ],
    [
      "agora (signed inject → verify → controls → wasm → signed reply → fact)",
      `${r.agora.msgsPerSec.toLocaleString("en")} msgs/s`,
      `ratio ${(r.agora.ratio * 100).toFixed(0)} % (target ≥ 50 %)`,
    ],
    ...r.latency.map((l): [string, string, string] => [
      `latency inject → verified reply @ ${l.offered} msgs/s`,
      `p50 ${l.p50} ms · p99 ${l.p99} ms · p99.9 ${l.p999} ms`,
      `${l.achieved} msgs/s achieved${l.offered === 1000 ? " (target p99 ≤ 10 ms)" : ""}`,
    ]),
    ...r.agents.map((a): [string, string, string] => [
      `${a.count} hosted agents on one host`,
      `${a.instantiateMs} ms/agent · ${a.rssMiBPerAgent} MiB/agent`,
      `process RSS ${a.totalRssMiB} MiB${a.count === 1000 ? " (target ≤ 1 GiB)" : ""}`,
    ]),
    [
      "kill switch with queued messages",
      `${r.kill.deliveriesAfterReturn} deliveries after the kill returned (last +${r.kill.lastStartAfterReturnMs} ms)`,
      `${r.kill.queued.toLocaleString("en")} queued; call ${r.kill.callMs} ms (target ≤ 100 ms)`,
    ],
    [
      "Ed25519 verify",
      `node:crypto ${r.crypto.nodeVerifyPerSec.toLocaleString("en")}/s · @noble/ed25519 ${r.crypto.nobleVerifyPerSec.toLocaleString("en")}/s`,
      "",
    ],
  ];
  const w = Math.max(...rows.map(([a]) => a.length));
  const w2 = Math.max(...rows.map(([, b]) => b.length));
  return rows.map(([a, b, c]) => `${a.padEnd(w)}  ${b.padEnd(w2)}  ${c}`).join("\n");
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "agora-bench-"));
  configFile = join(dir, "nats-server.conf");
  server = await startConfiguredNats(await secure(dir, { channels: {} }), {
    storeDir: join(dir, "nats"),
    configFile,
  });
  const version = await import("node:child_process").then((cp) =>
    cp.execFileSync(server.process.spawnfile, ["--version"]).toString().trim(),
  );
  try {
    const lanes = 4;
    const messages = QUICK ? 2000 : 20_000;
    const results = {} as Results;
    results.machine = {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? "?",
      memGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      nats: version,
    };
    log("crypto …");
    results.crypto = await crypto();
    log(`raw JetStream pipeline, ${messages} messages …`);
    results.raw = await raw(dir, server.url, lanes, messages);
    log(`agora pipeline, ${messages} messages …`);
    const nc = await login(await secure(dir, { channels: {} }), ADMIN_IDENTITY);
    await purge(nc);
    const a = await agoraThroughput(dir, server.url, lanes, messages);
    results.agora = { ...a, ratio: round(a.msgsPerSec / results.raw.msgsPerSec, 3) };
    results.latency = [];
    for (const offered of [500, 1000, 2000]) {
      log(`latency at ${offered} msgs/s …`);
      await purge(nc);
      results.latency.push(await latency(dir, server.url, offered, QUICK ? 2 : 10));
    }
    results.agents = [];
    for (const count of QUICK ? [100] : [100, 1000]) {
      log(`${count} hosted agents …`);
      results.agents.push(await manyAgents(dir, server.url, count));
    }
    log("kill switch …");
    await purge(nc);
    results.kill = await kill(dir, server.url, QUICK ? 2000 : 10_000);
    await nc.drain();
    console.log(
      `\nagora benchmark — ${results.machine.cpus} × ${results.machine.model}, ${results.machine.memGiB} GiB, Node ${results.machine.node}, ${results.machine.nats}\n`,
    );
    console.log(table(results));
    const out = join(process.cwd(), "bench", "results.json");
    writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), quick: QUICK, ...results }, null, 2)}\n`);
    console.log(`\nwritten to ${out}`);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
