// Crash safety, each with every message counted: kill -9 the nats-server, kill -9
// the host, stop the server for 10 s, SIGTERM the host — nothing lost, nothing doubled.
import { describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AgoraClient } from "../../host/client.js";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { STREAM } from "../../host/nats.js";
import { startAgora, until, type TestAgora } from "../helpers/agora.js";
import { fixtureWasm, ROOT } from "../helpers/paths.js";

const COUNTERS = ["c1", "c2"];
const spec = {
  channels: ["work", "out"],
  agents: Object.fromEntries(COUNTERS.map((c) => [c, { component: fixtureWasm("counter"), read: ["work"], write: ["out"] }])),
  external: { sender: { write: ["work"] } },
  limits: { ackWait: "3s" },
};

/** What each counter did, read from KV and the stream: its count, its replies, any duplicates. */
async function tally(a: TestAgora): Promise<Record<string, { count: number; replies: number; distinct: number; duplicates: number }>> {
  const out: Record<string, { count: number; replies: number; distinct: number; duplicates: number }> = {};
  const replies = new Map<string, string[]>();
  let duplicates = new Map<string, number>();
  // Counts first, replies second: a reply is published before its count is written, so none can be missed.
  const counts: Record<string, number> = {};
  for (const c of COUNTERS) counts[c] = Number((await a.infra.state.get(`${c}.${Buffer.from("count").toString("base64url")}`))?.string() ?? "0");
  // Every reply on `out`, read through an ephemeral consumer (no message is skipped silently).
  const ci = await a.infra.jsm.consumers.add(STREAM, { filter_subject: "agora.ch.out", deliver_policy: DeliverPolicy.All, ack_policy: AckPolicy.None, inactive_threshold: 10_000_000_000 });
  const consumer = await a.infra.js.consumers.get(STREAM, ci.name);
  let left = ci.num_pending;
  while (left > 0) {
    const batch = await consumer.fetch({ max_messages: Math.min(left, 500), expires: 2000 });
    let got = 0;
    for await (const m of batch) {
      got++;
      const env = m.json<{ sender: string; act: string; re: string }>();
      if (env.act === "failure") duplicates.set(env.sender, (duplicates.get(env.sender) ?? 0) + 1);
      else replies.set(env.sender, [...(replies.get(env.sender) ?? []), env.re]);
    }
    if (got === 0) throw new Error("reply stream stalled");
    left -= got;
  }
  await a.infra.jsm.consumers.delete(STREAM, ci.name);
  for (const c of COUNTERS) {
    const r = replies.get(c) ?? [];
    out[c] = { count: counts[c]!, replies: r.length, distinct: new Set(r).size, duplicates: duplicates.get(c) ?? 0 };
  }
  duplicates = new Map();
  return out;
}

/** Send `n` requests one by one (each retried through outages), calling `at(i)` before each. */
async function sendAll(c: AgoraClient, n: number, at: (i: number) => Promise<void> | void): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    await at(i);
    ids.push((await c.send("work", "request", { i })).env.id);
  }
  return ids;
}

async function counted(a: TestAgora, n: number, ms: number) {
  let t = await tally(a);
  await until(async () => {
    t = await tally(a);
    return COUNTERS.every((c) => t[c]!.count >= n);
  }, ms, `each counter to reach ${n}`).catch(() => {});
  return t;
}

function expectExactlyOnce(t: Awaited<ReturnType<typeof tally>>, n: number): void {
  for (const c of COUNTERS) expect(t[c], c).toEqual({ count: n, replies: n, distinct: n, duplicates: 0 });
}

function hostProcess(config: string, url: string): { child: ChildProcess; output: () => string; ready: Promise<void> } {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "cli", "main.ts"), "host", "--config", config, "--no-facts"], {
    cwd: ROOT,
    env: { ...process.env, NATS_URL: url },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const ready = until(() => out.includes("running 2 agent"), 30_000, "host process").catch((err) => {
    throw new Error(`${String(err)}; host output:\n${out}`);
  });
  return { child, output: () => out, ready };
}

describe("crash safety", { timeout: 150_000 }, () => {
  it("crash - kill -9 the nats-server mid-stream and restart it on the same store: each message handled once by each agent", async () => {
    await using a = await startAgora(spec);
    await a.startHost();
    const sender = await a.client("sender");
    const N = 300;
    await sendAll(sender, N, async (i) => {
      if (i === 120) {
        await a.nats.stop({ hard: true });
        setTimeout(() => void a.nats.start(), 1500); // back on the same store while we keep sending
      }
    });
    const t = await counted(a, N, 90_000);
    console.log(`crash (a) nats-server kill -9: ${N} sent; ${COUNTERS.map((c) => `${c} counted ${t[c]!.count}, replied ${t[c]!.distinct} distinct, ${t[c]!.duplicates} duplicates`).join("; ")}`);
    expectExactlyOnce(t, N);
  });

  it("crash - stop the server for 10 s while clients keep sending: nothing lost, the host resumes on its own", async () => {
    await using a = await startAgora(spec);
    await a.startHost();
    const sender = await a.client("sender");
    const N = 200;
    let downFor = 0;
    await sendAll(sender, N, async (i) => {
      if (i === 80) {
        const t0 = Date.now();
        await a.nats.stop();
        setTimeout(() => void a.nats.start().then(() => (downFor = Date.now() - t0)), 10_000);
      }
    });
    const t = await counted(a, N, 90_000);
    console.log(`crash (c) server down ${downFor} ms: ${N} sent; ${COUNTERS.map((c) => `${c} counted ${t[c]!.count}, ${t[c]!.duplicates} duplicates`).join("; ")}`);
    expect(downFor).toBeGreaterThanOrEqual(10_000);
    expectExactlyOnce(t, N);
  });

  /** Run the host as a process, stop it with `signal` mid-stream, restart it, count. */
  async function hostStoppedMidStream(signal: "SIGKILL" | "SIGTERM") {
    const a = await startAgora(spec);
    const config = join(a.dir, "agora.yaml");
    writeFileSync(config, JSON.stringify({ ...spec, channels: { work: null, out: null }, data: a.config.data, host: { workers: 1 } }));
    let host = hostProcess(config, a.nats.url);
    await host.ready;
    const sender = await a.client("sender");
    const N = 300;
    const sending = sendAll(sender, N, () => undefined);
    await until(async () => (await tally(a)).c1!.count >= 60, 30_000, "progress");
    host.child.kill(signal);
    const code = await new Promise((r) => host.child.once("exit", (c) => r(c)));
    const output = host.output();
    const atStop = await tally(a);
    host = hostProcess(config, a.nats.url);
    await host.ready;
    await sending;
    const t = await counted(a, N, 60_000);
    host.child.kill("SIGINT");
    const secondCode = await new Promise((r) => host.child.once("exit", (c) => r(c)));
    await a.close();
    return { N, t, code, secondCode, output, atStop };
  }

  it("crash - kill -9 the host process mid-stream and restart it: each message handled once by each agent", async () => {
    const { N, t, atStop } = await hostStoppedMidStream("SIGKILL");
    console.log(`crash (b) host kill -9 at c1=${atStop.c1!.count}/c2=${atStop.c2!.count} of ${N}: afterwards ${COUNTERS.map((c) => `${c} counted ${t[c]!.count}, ${t[c]!.duplicates} duplicates`).join("; ")}`);
    expectExactlyOnce(t, N);
  });

  it("crash - SIGTERM drains in-flight work and exits 0; nothing is processed twice after the restart", async () => {
    const { N, t, code, secondCode, output, atStop } = await hostStoppedMidStream("SIGTERM");
    expect(code).toBe(0);
    expect(secondCode).toBe(0);
    expect(output).toContain("SIGTERM: draining");
    console.log(`graceful SIGTERM at c1=${atStop.c1!.count} of ${N}: ${COUNTERS.map((c) => `${c} counted ${t[c]!.count}, ${t[c]!.duplicates} duplicates`).join("; ")}`);
    expectExactlyOnce(t, N);
  });
});
