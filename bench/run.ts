// npm run bench: agora against raw JetStream in the same run, on its own nats-server.
// Prints a table and writes bench/results.json. `--quick` shortens every phase.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type AddressInfo } from "node:net";
import * as ed from "@noble/ed25519";
import { AckPolicy, DeliverPolicy, jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { AgoraClient } from "../sdk/client.js";
import { connect as connectSdk } from "../sdk/connect.js";
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
import { ED25519_BACKEND } from "../trust/ed25519.js";
import { RecorderThread } from "../facts/recorder-thread.js";
import { Gateway } from "../gateway/gateway.js";
import { STREAM } from "../protocol/subjects.js";
import { connectNats } from "../transport/connect.js";
import { reloadConfiguredNats, startConfiguredNats } from "../transport/embedded.js";
import { ADMIN_IDENTITY } from "../protocol/names.js";
import { Kvm } from "@nats-io/kv";
import { AGENT_WORLD } from "../protocol/components.js";
import type { DeployRecord } from "../protocol/records.js";
import { DEPLOYS_BUCKET } from "../protocol/subjects.js";
import { ComponentLoader } from "../host/components/component-loader.js";
import { ComponentRegistry } from "../transport/component-registry.js";
import { signManifest } from "../trust/components.js";

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  process.stdout.write(`npm run bench [-- options]: measure agora against raw JetStream on this machine

  --quick              fewer messages and agents (results.json says "quick": true)
  --only a,b           only these phases: crypto, raw, agora, roundTrip, canary (with roundTrip), latency, agents, kill
                       (a partial run does not write results.json)
  --agents N,M         agent counts of the many-agents phase (default 1000)
  --profile            a CPU profile of each round-trip loop into bench/profiles/
  -h, --help           this text

  BENCH_NATS_PROF=<port>  nats-server serves Go's pprof there (/debug/pprof/profile?seconds=N) while the bench runs

A full run prints the table and writes bench/results.json; the README's Performance section shows one.
`);
  process.exit(0);
}
const QUICK = process.argv.includes("--quick");
/** `--only a,b`: run only these phases (crypto, raw, agora, roundTrip, latency, agents, kill), for profiling one. */
const ONLY = (() => {
  const i = process.argv.indexOf("--only");
  return i > 0 ? new Set((process.argv[i + 1] ?? "").split(",")) : undefined;
})();
const runs = (phase: string) => !ONLY || ONLY.has(phase);
/**
 * The many-agents phase's counts. 10,000 is not among them: on this machine 3,000 idle agents
 * already keep nats-server at 94 % of a core (each agent's pull loop makes a pull request a second
 * and receives two idle heartbeats), and their start did not finish in 10 minutes; `--agents 10000` tries.
 * One count only: a second count in the same server starts far slower than on a fresh one (not understood yet).
 */
const DEFAULT_AGENT_COUNTS = [1000];
/** `--agents 1000,10000`: the counts of the many-agents phase instead of the default ones. */
const AGENT_COUNTS = (() => {
  const i = process.argv.indexOf("--agents");
  return i > 0 ? (process.argv[i + 1] ?? "").split(",").map(Number) : undefined;
})();
/** `--profile`: write a CPU profile of the main thread for each measured round-trip loop to bench/profiles/. */
const PROFILE = process.argv.includes("--profile");
const PAYLOAD = { task: "build", detail: "x".repeat(200) };
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

interface Results {
  machine: { cpus: number; model: string; memGiB: number; node: string; nats: string };
  /** `nodeVerifyPerSec`: a whole envelope (JCS + Ed25519) through trust/, on `backend` (libsodium, else node:crypto). */
  crypto: { nodeVerifyPerSec: number; nobleVerifyPerSec: number; backend?: string };
  raw: { msgsPerSec: number; messages: number; lanes: number };
  agora: { msgsPerSec: number; messages: number; lanes: number; ratio: number };
  latency: { offered: number; achieved: number; p50: number; p99: number; p999: number; n: number }[];
  agents: {
    count: number;
    /** Start-up time per agent (consumer, lease, status; the instance comes with its first message). */
    instantiateMs: number;
    rssMiBPerAgent: number;
    totalRssMiB: number;
    /** From publishing a request to an idle agent to the host publishing its reply, over a sample of 20 agents. */
    firstAnswerMs: { p50: number; max: number };
  }[];
  roundTrip: {
    rawJetStream: RoundTrips;
    /** Signed request → host → wasm responder → signed reply verified by the caller, without the recorder. */
    hosted: RoundTrips;
    /** The same with the facts recorder running. */
    agora: RoundTrips;
    /** The SDK's request() against the same hosted responder (each answer verified), recorder running. */
    sdkRequest: RoundTrips;
    /** The same with a canary of the responder on half the conversations (`--only roundTrip,canary`). */
    canary?: RoundTrips;
    /** How far the recorder was behind after a recorded row (the most, in ms until it caught up). */
    recorderLagMs: number;
    /** Round trips per measured run, after 300 warm-up ones. */
    n: number;
  };
  kill: {
    queued: number;
    deliveriesAfterReturn: number;
    lastStartAfterReturnMs: number;
    /** From sending POST /api/kill (curl, another process) to its response. */
    callMs: number;
    /** The gateway's own figure: from dispatching the control to the hosts' acknowledgements. */
    reportedMs: number;
  };
}

/** A closed loop of round trips: per second, and the latency of each, in ms. */
interface RoundTrip {
  perSec: number;
  p50: number;
  p99: number;
}

/** The same round trip one at a time and 32 at a time. */
interface RoundTrips {
  serial: RoundTrip;
  parallel32: RoundTrip;
}

const LOOPS = [
  ["serial", 1],
  ["parallel32", 32],
] as const;

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

/** A clean stream for the next phase: no messages, and none of the earlier phases' durable consumers. */
async function purge(nc: NatsConnection): Promise<void> {
  const infra = await ensureInfrastructure(nc, { dedupWindowMs: 600_000 });
  await infra.jsm.streams.purge(STREAM).catch(() => {});
  for await (const c of infra.jsm.consumers.list(STREAM))
    await infra.jsm.consumers.delete(STREAM, c.name).catch(() => {});
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
  return {
    nodeVerifyPerSec: Math.round(nodeRate),
    nobleVerifyPerSec: Math.round(nobleRate),
    backend: ED25519_BACKEND,
  };
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
  const recorder = await RecorderThread.start({ config, url }); // as `agora up` runs it
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
  log(`  replies verified after ${((performance.now() - t0) / 1000).toFixed(2)} s; facts so far ${recorder.lastSeq}`);
  const last = (await infra.jsm.streams.info(STREAM)).state.last_seq;
  await recorder.waitFor(last, 120_000);
  const secs = (performance.now() - t0) / 1000;
  sub.unsubscribe();
  await host.close();
  await recorder.close();
  await close();
  return { msgsPerSec: Math.round(messages / secs), messages, lanes };
}

// --- round trips: a closed loop, one or 32 in flight ------------------------------------
const WARMUP = 300;

/** Run `f` under the inspector's CPU profiler when --profile is given; the profile goes to bench/profiles/<name>.cpuprofile. */
async function profiled<T>(name: string, f: () => Promise<T>): Promise<T> {
  if (!PROFILE) return f();
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  try {
    return await f();
  } finally {
    const { profile } = await session.post("Profiler.stop");
    const dir = join(process.cwd(), "bench", "profiles");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
    log(`  profile: bench/profiles/${name}.cpuprofile`);
  }
}

/** Run `n` round trips (after WARMUP) with `inFlight` at a time; `once(i)` resolves when round trip `i` is back. */
async function closedLoop(
  name: string,
  inFlight: number,
  n: number,
  once: (i: number) => Promise<void>,
): Promise<RoundTrip> {
  let next = 0;
  const run = async (total: number, lat?: number[]) => {
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < total) {
          const i = next++;
          const t = performance.now();
          await once(i);
          lat?.push(performance.now() - t);
        }
      }),
    );
  };
  await run(WARMUP);
  const lat: number[] = [];
  const count0 = await natsCounts();
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  await profiled(name, () => run(WARMUP + n, lat));
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds();
  const count = await natsCounts();
  const per = (a: number, b: number) => ((a - b) / n).toFixed(1);
  log(
    `  ${inFlight} in flight: this process used ${((cpu.self - cpu0.self) / secs).toFixed(2)} cores, nats-server ${((cpu.nats - cpu0.nats) / secs).toFixed(2)}; ` +
      `per round trip ${(((cpu.self - cpu0.self) * 1000) / n).toFixed(2)} + ${(((cpu.nats - cpu0.nats) * 1000) / n).toFixed(2)} ms of CPU, ` +
      `nats msgs in ${per(count.in, count0.in)} · out ${per(count.out, count0.out)}`,
  );
  const sorted = lat.sort((a, b) => a - b);
  return { perSec: Math.round(n / secs), p50: round(percentile(sorted, 50), 2), p99: round(percentile(sorted, 99), 2) };
}

/** The nats-server's monitoring port (its message counters). */
let monitorPort = 0;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Messages in and out of the nats-server so far. */
async function natsCounts(): Promise<{ in: number; out: number }> {
  try {
    const varz = (await fetch(`http://127.0.0.1:${monitorPort}/varz`).then((r) => r.json())) as {
      in_msgs: number;
      out_msgs: number;
    };
    return { in: varz.in_msgs, out: varz.out_msgs };
  } catch {
    return { in: 0, out: 0 };
  }
}

/** CPU seconds used so far by this process (every thread) and by the nats-server. */
function cpuSeconds(): { self: number; nats: number } {
  const u = process.cpuUsage();
  let nats = 0;
  try {
    const stat = readFileSync(`/proc/${server.process.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    nats = (Number(stat[11]) + Number(stat[12])) / 100; // utime + stime, in clock ticks
  } catch {
    // not Linux: the server's share is not shown
  }
  return { self: (u.user + u.system) / 1e6, nats };
}

/** Waiters for replies, by request id. */
class Replies {
  private readonly waiting = new Map<string, () => void>();
  waits(id: string): boolean {
    return this.waiting.has(id);
  }
  expect(id: string): Promise<void> {
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }
  arrived(id: string): void {
    const w = this.waiting.get(id);
    this.waiting.delete(id);
    w?.();
  }
}

/** Raw JetStream: publish a request → a durable consumer republishes it as the reply (acking on its pub ack) → the caller's subscription. */
async function rawRoundTrip(dir: string, url: string, n: number): Promise<RoundTrips> {
  const nc = await login(await secure(dir, { channels: {} }), ADMIN_IDENTITY, url);
  const infra = await ensureInfrastructure(nc, { dedupWindowMs: 600_000 });
  await infra.jsm.streams.add({ name: "RAWRT", subjects: ["rawrt.>"] });
  const js = jetstream(nc);
  await infra.jsm.consumers.add("RAWRT", {
    durable_name: "responder",
    filter_subject: "rawrt.req",
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
  });
  let closing = false;
  const loop = pullLoop(
    await js.consumers.get("RAWRT", "responder"),
    async (m) => {
      // The reply is published and the request acked once it is stored; the next message does not wait for it.
      void js.publish("rawrt.rep", m.data, { msgID: `rep-${m.seq}` }).then(() => m.ack());
    },
    { closing: () => closing },
  );
  const replies = new Replies();
  const dec = new TextDecoder();
  const sub = nc.subscribe("rawrt.rep", {
    callback: (_e, m) => {
      const text = dec.decode(m.data);
      replies.arrived(text.slice(0, text.indexOf("|")));
    },
  });
  const body = JSON.stringify(PAYLOAD);
  const result = {} as RoundTrips;
  for (const [key, inFlight] of LOOPS) {
    result[key] = await closedLoop(`raw-${key}`, inFlight, n, async (i) => {
      const id = `${key}-${i}`;
      const back = replies.expect(id);
      await js.publish("rawrt.req", `${id}|${body}`, { msgID: id });
      await back;
    });
  }
  sub.unsubscribe();
  closing = true;
  await loop;
  await infra.jsm.streams.delete("RAWRT");
  await nc.drain();
  return result;
}

/** agora: signed request → verify → controls → wasm responder → signed reply, verified by the caller; recorder running. */
/**
 * The responder, from the registry, with a canary of it (the same bytes as another version) on
 * `percent` % of the conversations: what the rollout adds to each call (routing, tally, judging).
 */
async function withCanary(keysDir: string, nc: NatsConnection, percent: number): Promise<Record<string, unknown>> {
  const publisher = new KeyStore(keysDir).loadOrGenerate("bench-publisher");
  const bytes = readFileSync(builtAgent("responder"));
  const loaded = await new ComponentLoader().loadBytes("responder", bytes);
  const registry = await ComponentRegistry.open(nc);
  for (const version of ["1.0.0", "1.1.0"])
    await registry.push(
      signManifest(publisher, { name: "responder", version }, bytes, { world: AGENT_WORLD, imports: loaded.imports }),
      bytes,
    );
  const deploys = await new Kvm(nc).open(DEPLOYS_BUCKET);
  const record: DeployRecord = {
    agent: "responder",
    component: "responder@1.0.0",
    canary: { component: "responder@1.1.0", percent },
    by: ADMIN_IDENTITY,
    ts: new Date().toISOString(),
  };
  await deploys.put("responder", JSON.stringify(record));
  return { publishers: { "bench-publisher": publisher.publicKey } };
}

/** The round-trip rows of one agora deployment: how the caller calls, and whether the recorder runs. */
interface AgoraRoundTrips {
  /** The same as `agora` without the recorder: the host's own cost. */
  hosted?: RoundTrips;
  /** Signed request → host → wasm responder → signed reply verified by the caller; recorder running. */
  agora: RoundTrips;
  /** The SDK's `request()` against the same hosted responder, verifying each answer; recorder running. */
  sdkRequest?: RoundTrips;
  /** The most the recorder was behind after a recorded row (ms from its last reply until it caught up). */
  recorderLagMs: number;
  orderKept: boolean;
}

async function agoraRoundTrip(dir: string, url: string, n: number, canaryPercent?: number): Promise<AgoraRoundTrips> {
  const spec = {
    channels: { rt: null },
    agents: { responder: { component: builtAgent("responder"), read: ["rt"], write: ["rt"] } },
    external: { bench: { read: ["rt"], write: ["rt"] } },
  };
  const setup = await agora(dir, url, spec);
  const { nc, connect, close } = setup;
  let config = setup.config;
  if (canaryPercent !== undefined) {
    const components = await withCanary(config.keysDir, nc, canaryPercent);
    config = await secure(dir, {
      ...spec,
      agents: { responder: { ...spec.agents.responder, component: "responder@1.0.0" } },
      components,
    });
  }
  const infra = await ensureInfrastructure(nc, { dedupWindowMs: 600_000 });
  const id = new KeyStore(config.keysDir).loadOrGenerate("bench");
  await KeyRegistry.publish(infra.keys, "bench", id.publicKey);
  const host = await Host.start({
    config,
    nc: await connect(config.host.name),
    ...(canaryPercent !== undefined ? { log: (l: string) => log(`  host: ${l}`) } : {}),
  });
  const responderKey = publicKeyObject((await infra.keys.get("responder"))!.string());
  const replies = new Replies();
  // Per-channel order: the replies come back in the stream order of their requests.
  const seqOf = new Map<string, number>();
  let lastSeq = 0;
  let orderKept = true;
  const sub = nc.subscribe("agora.ch.rt", {
    callback: (_e, m) => {
      const env = parseEnvelope(m.data);
      if (env.sender !== "responder" || !env.re || !replies.waits(env.re) || !verifyEnvelope(responderKey, env)) return;
      const seq = seqOf.get(env.re);
      if (seq !== undefined) {
        if (seq < lastSeq) orderKept = false;
        lastSeq = seq;
      }
      replies.arrived(env.re);
    },
  });
  const client = new AgoraClient(await connect("bench"), id);
  const prefix = canaryPercent === undefined ? "rt" : "rtc"; // not the ids of an earlier run (markers)
  const clientRows = async (row: string) => {
    const result = {} as RoundTrips;
    for (const [key, inFlight] of LOOPS)
      result[key] = await closedLoop(`${row}-${key}`, inFlight, n, async (i) => {
        const envId = `${prefix}-${row}-${key}-${i}`;
        const back = replies.expect(envId);
        const { ack } = await client.send("rt", "request", PAYLOAD, { hop: 1, id: envId });
        seqOf.set(envId, ack.seq);
        await back;
      });
    return result;
  };
  // The host alone first (no recorder), then the recorder catches up and runs beside every later row.
  const hosted = canaryPercent === undefined ? await clientRows("hosted") : undefined;
  const recorder = await RecorderThread.start({ config, url }); // as `agora up` runs it
  let recorderLagMs = 0;
  /** How long the recorder takes, from now, to reach the end of the stream (ms). */
  const catchUp = async () => {
    const at = performance.now();
    const last = (await infra.jsm.streams.info(STREAM)).state.last_seq;
    log(`  the stream is at seq ${last}, the recorder at ${recorder.lastSeq}`);
    await recorder.waitFor(last, 300_000);
    return Math.round(performance.now() - at);
  };
  const lag = async () => void (recorderLagMs = Math.max(recorderLagMs, await catchUp()));
  if (hosted) await catchUp(); // the backlog of the hosted rows is not a lag
  const agoraRows = await clientRows("agora");
  await lag();
  let sdkRequest: AgoraRoundTrips["sdkRequest"];
  if (canaryPercent === undefined) {
    // The SDK's documented path: connect() with the deployment's config, request() and its verified answers.
    const agent = await connectSdk({ name: "bench", config, servers: url, heartbeatMs: 60_000 });
    sdkRequest = {} as RoundTrips;
    for (const [key, inFlight] of LOOPS)
      sdkRequest[key] = await closedLoop(`sdk-${key}`, inFlight, n, async () => {
        await agent.request("rt", "request", PAYLOAD, { hop: 1, timeoutMs: 30_000 });
      });
    await agent.close();
    await lag();
  }
  sub.unsubscribe();
  await host.close();
  await recorder.close();
  if (canaryPercent !== undefined) await infra.deploys.delete("responder");
  await close();
  return {
    ...(hosted ? { hosted } : {}),
    agora: agoraRows,
    ...(sdkRequest ? { sdkRequest } : {}),
    recorderLagMs,
    orderKept,
  };
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
  // The first second at the offered rate warms up (JIT, the instance, the consumer) and is not measured,
  // as the round-trip rows leave out their first WARMUP round trips.
  const warm = offered;
  const total = offered * seconds + warm;
  const t0 = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / offered;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const envId = `l${offered}-${i}`;
    if (i >= warm) sentAt.set(envId, performance.now());
    pending.push(client.send("lat", "request", PAYLOAD, { hop: 1, id: envId }));
  }
  await Promise.all(pending);
  const deadline = performance.now() + 30_000;
  while (lat.length < total - warm && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const achieved = lat.length / ((performance.now() - t0) / 1000 - 1);
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
/** Idle instances are dropped after this in the many-agents phase (limits.instanceIdle). */
const INSTANCE_IDLE = "60s";

/**
 * `count` agents, each on its own channel, instantiated on their first message
 * (limits.instanceIdle): the process RSS once all are running, then the first
 * answer of a sample of idle agents, from the request's publish to its reply.
 */
async function manyAgents(dir: string, url: string, count: number): Promise<Results["agents"][number]> {
  const channels = Array.from({ length: count }, (_, i) => `many-${i}`);
  const { config, nc, connect, close } = await agora(dir, url, {
    channels: Object.fromEntries(channels.map((c) => [c, null])),
    agents: Object.fromEntries(
      channels.map((c, i) => [`agent-${i}`, { component: builtAgent("responder"), read: [c], write: [c] }]),
    ),
    external: { bench: { write: channels } },
    limits: { instanceIdle: INSTANCE_IDLE },
  });
  const infra = await ensureInfrastructure(nc, { dedupWindowMs: 600_000 });
  const id = new KeyStore(config.keysDir).loadOrGenerate("bench");
  await KeyRegistry.publish(infra.keys, "bench", id.publicKey);
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const host = await Host.start({ config, nc: await connect(config.host.name) });
  const ms = performance.now() - t0;
  global.gc?.();
  const rss = process.memoryUsage().rss;
  const started = host.runtimes.size;
  // The first answer of idle agents: a sample spread over all of them, one at a time, until the host publishes it.
  const replies = new Replies();
  void (async () => {
    for await (const e of host.events.subscribe()) if (e.type === "emitted" && e.re) replies.arrived(e.re);
  })();
  const client = new AgoraClient(await connect("bench"), id);
  const first: number[] = [];
  const sample = Math.min(20, count);
  for (let k = 0; k < sample; k++) {
    const i = Math.floor((k * count) / sample);
    const envId = `first-${i}`;
    const back = replies.expect(envId);
    const t = performance.now();
    await client.send(channels[i]!, "request", PAYLOAD, { hop: 1, id: envId });
    await back;
    first.push(performance.now() - t);
  }
  await host.close();
  await close();
  if (started !== count) throw new Error(`only ${started} of ${count} agents started`);
  const sorted = first.sort((a, b) => a - b);
  return {
    count,
    instantiateMs: round(ms / count, 2),
    rssMiBPerAgent: round((rss - rss0) / count / 1024 / 1024, 2),
    totalRssMiB: Math.round(rss / 1024 / 1024),
    firstAnswerMs: { p50: round(percentile(sorted, 50), 1), max: round(sorted.at(-1)!, 1) },
  };
}

// --- kill switch with ≥ 10,000 queued, under the heaviest load ------------------------------
/** POST `path` with the operator's token from another process (curl): the time as the operator sees it, and the reply. */
async function curlPost(
  base: string,
  path: string,
  token: string,
  body: unknown,
): Promise<{ ms: number; reply: { ms?: number } }> {
  const { execFile } = await import("node:child_process");
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      "curl",
      ["-sS", "-X", "POST", "-H", `authorization: Bearer ${token}`, "-H", "content-type: application/json"].concat([
        "-d",
        JSON.stringify(body),
        "-w",
        "\n%{time_total}",
        `${base}${path}`,
      ]),
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    ),
  );
  const nl = out.lastIndexOf("\n");
  return { ms: Number(out.slice(nl + 1)) * 1000, reply: JSON.parse(out.slice(0, nl)) as { ms?: number } };
}

/**
 * A voter with `queued` messages waiting, the recorder recording them, and 32
 * round trips in flight to a responder on the same host, all the while: the
 * operator's kill is timed from sending POST /api/kill to its response. Then no
 * delivery may start. Repeated (kill, revive) to see the spread.
 */
async function kill(dir: string, url: string, queued: number): Promise<Results["kill"]> {
  const { config, nc, connect, close } = await agora(dir, url, {
    channels: { flood: null, rt: null },
    agents: {
      voter: { component: builtAgent("voter"), read: ["flood"], write: ["flood"] },
      responder: { component: builtAgent("responder"), read: ["rt"], write: ["rt"] },
    },
    external: { operator: { write: ["flood"] }, bench: { write: ["flood", "rt"] } },
  });
  const infra = await ensureInfrastructure(nc, { dedupWindowMs: 600_000 });
  const id = new KeyStore(config.keysDir).loadOrGenerate("bench");
  await KeyRegistry.publish(infra.keys, "bench", id.publicKey);
  const recorder = await RecorderThread.start({ config, url }); // as `agora up` runs it
  const host = await Host.start({ config, nc: await connect(config.host.name) });
  const events: HostEvent[] = [];
  void (async () => {
    for await (const e of host.events.subscribe()) events.push(e);
  })();
  const token = "o".repeat(20);
  const g = await Gateway.create({
    config,
    nc: await connect(config.gateway.identity),
    tokens: { viewer: "v".repeat(20), operator: token, generated: false },
  });
  const base = await g.listen({ port: 0 });
  const client = new AgoraClient(await connect("bench"), id);
  await produce(queued + 500, () => client.send("flood", "inform", { n: 1 }, { hop: 0 }));
  // 32 round trips in flight to the responder for as long as the kills go on.
  let loading = true;
  const replies = new Replies();
  const sub = nc.subscribe("agora.ch.rt", {
    callback: (_e, m) => {
      const env = parseEnvelope(m.data);
      if (env.sender === "responder" && env.re) replies.arrived(env.re);
    },
  });
  let n = 0;
  const load = Promise.all(
    Array.from({ length: 32 }, async () => {
      while (loading) {
        const envId = `k-${n++}`;
        const back = replies.expect(envId);
        await client.send("rt", "request", PAYLOAD, { hop: 1, id: envId });
        await Promise.race([back, new Promise((r) => setTimeout(r, 2000))]);
      }
    }),
  );
  const delivered = () =>
    events.filter((e): e is Extract<HostEvent, { type: "delivered" }> => e.type === "delivered" && e.agent === "voter");
  await waitFor(() => delivered().length >= 100, "deliveries to start");
  const info = await infra.jsm.consumers.info(STREAM, "agent_voter_flood");
  const now = () => performance.timeOrigin + performance.now();
  const calls: number[] = [];
  const reported: number[] = [];
  let after = 0;
  let lastStart = 0;
  for (let k = 0; k < (QUICK ? 2 : 5); k++) {
    const { ms, reply } = await curlPost(base, "/api/kill", token, { agent: "voter" });
    const returned = now();
    calls.push(ms);
    reported.push(reply.ms ?? NaN);
    await new Promise((r) => setTimeout(r, 500));
    const late = delivered().filter((e) => e.at > returned);
    after += late.length;
    lastStart = Math.max(lastStart, ...late.map((e) => e.at - returned));
    await curlPost(base, "/api/revive", token, { agent: "voter" });
    await new Promise((r) => setTimeout(r, 500));
  }
  log(`  kill calls: ${calls.map((c) => c.toFixed(1)).join(", ")} ms; ${n} round trips meanwhile`);
  loading = false;
  await load;
  sub.unsubscribe();
  await g.close();
  await host.close();
  await recorder.close();
  await close();
  return {
    queued: info.num_pending + info.num_ack_pending,
    deliveriesAfterReturn: after,
    lastStartAfterReturnMs: round(lastStart, 2),
    callMs: round(Math.max(...calls), 1),
    reportedMs: round(Math.max(...reported), 1),
  };
}

/** The round-trip rows, with their targets. */
function rt(r: Partial<Results>): [string, string, string][] {
  if (!r.roundTrip) return [];
  const { rawJetStream: raw, hosted, agora: a, sdkRequest: sdk, canary, recorderLagMs } = r.roundTrip;
  const row = (x: RoundTrip) => `${x.perSec.toLocaleString("en")}/s · p50 ${x.p50} ms · p99 ${x.p99} ms`;
  const pct = (x: number, y: number) => `${((x / y) * 100).toFixed(0)} %`;
  return [
    ["round trip, raw JetStream, 1 in flight", row(raw.serial), ""],
    ["round trip, raw JetStream, 32 in flight", row(raw.parallel32), ""],
    ...(hosted
      ? ([
          [
            "round trip, hosted (signed, wasm, verified), 1 in flight",
            row(hosted.serial),
            `${pct(hosted.serial.perSec, raw.serial.perSec)} of raw`,
          ],
          [
            "round trip, hosted, 32 in flight to one agent",
            row(hosted.parallel32),
            `${pct(hosted.parallel32.perSec, raw.parallel32.perSec)} of raw (target ≥ 25 %)`,
          ],
        ] as [string, string, string][])
      : []),
    [
      "round trip, agora (hosted and recorded), 1 in flight",
      row(a.serial),
      `${pct(a.serial.perSec, raw.serial.perSec)} of raw (target ≥ 40 %, p99 ≤ 2 ms)`,
    ],
    [
      "round trip, agora, 32 in flight to one agent",
      row(a.parallel32),
      `${pct(a.parallel32.perSec, raw.parallel32.perSec)} of raw (target ≥ 20 %, p99 ≤ 25 ms)`,
    ],
    ...(sdk
      ? ([
          ["round trip, SDK request() to the hosted agent, 1 in flight", row(sdk.serial), ""],
          [
            "round trip, SDK request(), 32 in flight",
            row(sdk.parallel32),
            `${pct(sdk.parallel32.perSec, a.parallel32.perSec)} of agora's (target ≥ 90 %)`,
          ],
        ] as [string, string, string][])
      : []),
    ["recorder behind after a recorded row", `${recorderLagMs} ms`, "target < 250 ms"],
    ...(canary
      ? ([
          ["round trip, agora, canary on 50 % of conversations, 1 in flight", row(canary.serial), ""],
          [
            "round trip, agora, canary on 50 %, 32 in flight",
            row(canary.parallel32),
            `${pct(canary.parallel32.perSec, a.parallel32.perSec)} of agora without a canary (which ran first: a second run on one server is slower anyway)`,
          ],
        ] as [string, string, string][])
      : []),
  ];
}

function table(r: Partial<Results>): string {
  const rows: [string, string, string][] = [];
  if (r.raw)
    rows.push([
      "raw JetStream pipeline (publish → consume → ack → republish)",
      `${r.raw.msgsPerSec.toLocaleString("en")} msgs/s`,
      `${r.raw.lanes} lanes`,
    ]);
  if (r.agora)
    rows.push([
      "agora (signed inject → verify → controls → wasm → signed reply → fact)",
      `${r.agora.msgsPerSec.toLocaleString("en")} msgs/s`,
      `${(r.agora.ratio * 100).toFixed(0)} % of raw (target ≥ 30 %)`,
    ]);
  rows.push(...rt(r));
  for (const l of r.latency ?? [])
    rows.push([
      `latency inject → verified reply @ ${l.offered} msgs/s`,
      `p50 ${l.p50} ms · p99 ${l.p99} ms · p99.9 ${l.p999} ms`,
      `${l.achieved} msgs/s achieved${l.offered === 1000 ? " (target p99 ≤ 10 ms)" : ""}`,
    ]);
  for (const a of r.agents ?? [])
    rows.push([
      `${a.count.toLocaleString("en")} hosted agents on one host`,
      `${a.instantiateMs} ms/agent to start · ${a.rssMiBPerAgent} MiB/agent · first answer p50 ${a.firstAnswerMs.p50} ms, max ${a.firstAnswerMs.max} ms`,
      `process RSS ${a.totalRssMiB} MiB${a.count === 10_000 ? " (target ≤ 1,024 MiB; first answer ≤ 50 ms)" : ""}`,
    ]);
  if (r.kill)
    rows.push([
      "kill switch: POST /api/kill → response, 32 round trips in flight",
      `${r.kill.deliveriesAfterReturn} deliveries after the kill returned (last +${r.kill.lastStartAfterReturnMs} ms)`,
      `${r.kill.queued.toLocaleString("en")} queued; worst call ${r.kill.callMs} ms (target ≤ 100 ms; the gateway's own figure ${r.kill.reportedMs} ms)`,
    ]);
  if (r.crypto)
    rows.push([
      "Ed25519 verify",
      `an envelope through trust/ (${r.crypto.backend ?? "node:crypto"}) ${r.crypto.nodeVerifyPerSec.toLocaleString("en")}/s · @noble/ed25519 ${r.crypto.nobleVerifyPerSec.toLocaleString("en")}/s`,
      "",
    ]);
  const w = Math.max(...rows.map(([a]) => a.length));
  const w2 = Math.max(...rows.map(([, b]) => b.length));
  return rows.map(([a, b, c]) => `${a.padEnd(w)}  ${b.padEnd(w2)}  ${c}`).join("\n");
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "agora-bench-"));
  configFile = join(dir, "nats-server.conf");
  monitorPort = await freePort();
  server = await startConfiguredNats(await secure(dir, { channels: {} }), {
    storeDir: join(dir, "nats"),
    configFile,
    args: [
      "-m",
      String(monitorPort),
      ...(process.env.BENCH_NATS_PROF ? ["--profile", process.env.BENCH_NATS_PROF] : []),
    ],
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
    const nc = await login(await secure(dir, { channels: {} }), ADMIN_IDENTITY);
    // First, on a fresh server: after the other phases (hundreds of thousands of messages and markers),
    // starting 1,000 agents kept nats-server busy for over 10 minutes; on a fresh one it takes ~20 s.
    if (runs("agents")) {
      results.agents = [];
      for (const count of AGENT_COUNTS ?? (QUICK ? [100] : DEFAULT_AGENT_COUNTS)) {
        log(`${count} hosted agents …`);
        await purge(nc);
        results.agents.push(await manyAgents(dir, server.url, count));
      }
    }
    if (runs("crypto")) {
      log("crypto …");
      results.crypto = await crypto();
    }
    if (runs("raw") || runs("agora")) {
      log(`raw JetStream pipeline, ${messages} messages …`);
      results.raw = await raw(dir, server.url, lanes, messages);
    }
    if (runs("agora")) {
      log(`agora pipeline, ${messages} messages …`);
      await purge(nc);
      const a = await agoraThroughput(dir, server.url, lanes, messages);
      results.agora = { ...a, ratio: round(a.msgsPerSec / results.raw.msgsPerSec, 3) };
    }
    if (runs("roundTrip")) {
      const n = QUICK ? 1000 : 5000;
      log(`round trips, raw JetStream: ${WARMUP} warm-up + ${n}, 1 then 32 in flight …`);
      const rawJetStream = await rawRoundTrip(dir, server.url, n);
      log(`round trips, agora: ${WARMUP} warm-up + ${n}, 1 then 32 in flight …`);
      await purge(nc);
      const { orderKept, hosted, sdkRequest, ...a } = await agoraRoundTrip(dir, server.url, n);
      if (!orderKept) throw new Error("the responder's replies came back out of their requests' stream order");
      if (!hosted || !sdkRequest) throw new Error("the hosted and SDK rows did not run");
      results.roundTrip = { rawJetStream, hosted, ...a, sdkRequest, n };
      if (runs("canary")) {
        log(`round trips, agora with a canary on 50 % of conversations: ${WARMUP} warm-up + ${n} …`);
        await purge(nc);
        results.roundTrip.canary = (await agoraRoundTrip(dir, server.url, n, 50)).agora;
      }
    }
    if (runs("latency")) {
      results.latency = [];
      for (const offered of [500, 1000, 2000]) {
        log(`latency at ${offered} msgs/s …`);
        await purge(nc);
        results.latency.push(await latency(dir, server.url, offered, QUICK ? 2 : 10));
      }
    }
    if (runs("kill")) {
      log("kill switch …");
      await purge(nc);
      results.kill = await kill(dir, server.url, QUICK ? 2000 : 10_000);
    }
    await nc.drain();
    console.log(
      `\nagora benchmark — ${results.machine.cpus} × ${results.machine.model}, ${results.machine.memGiB} GiB, Node ${results.machine.node}, ${results.machine.nats}\n`,
    );
    console.log(table(results));
    if (ONLY) {
      console.log(`\n${JSON.stringify(results, null, 2)}`);
      return; // a partial run does not replace the recorded one
    }
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
