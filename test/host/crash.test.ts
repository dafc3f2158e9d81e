// Crash safety, each with every message counted: kill -9 the nats-server, kill -9
// the host, stop the server for 10 s, SIGTERM the host — nothing lost, nothing doubled.
import { describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startAgora, until, type TestAgora } from "../helpers/agora.js";
import {
  counted as countedIn,
  expectExactlyOnce,
  hostProcess,
  sendAll,
  tally as tallyIn,
} from "../helpers/counting.js";
import { fixtureWasm } from "../helpers/paths.js";

const COUNTERS = ["c1", "c2"];
const spec = {
  channels: ["work", "out"],
  agents: Object.fromEntries(
    COUNTERS.map((c) => [c, { component: fixtureWasm("counter"), read: ["work"], write: ["out"] }]),
  ),
  external: { sender: { write: ["work"] } },
  limits: { ackWait: "3s" },
};

const tally = (a: TestAgora) => tallyIn(a.infra, COUNTERS);
const counted = (a: TestAgora, n: number, ms: number) => countedIn(a.infra, COUNTERS, n, ms);

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
    console.log(
      `crash (a) nats-server kill -9: ${N} sent; ${COUNTERS.map((c) => `${c} counted ${t[c]!.count}, replied ${t[c]!.distinct} distinct, ${t[c]!.duplicates} duplicates`).join("; ")}`,
    );
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
    console.log(
      `crash (c) server down ${downFor} ms: ${N} sent; ${COUNTERS.map((c) => `${c} counted ${t[c]!.count}, ${t[c]!.duplicates} duplicates`).join("; ")}`,
    );
    expect(downFor).toBeGreaterThanOrEqual(10_000);
    expectExactlyOnce(t, N);
  });

  /** Run the host as a process, stop it with `signal` mid-stream, restart it, count. */
  async function hostStoppedMidStream(signal: "SIGKILL" | "SIGTERM") {
    const a = await startAgora(spec);
    const config = join(a.dir, "agora.yaml");
    writeFileSync(
      config,
      JSON.stringify({ ...spec, channels: { work: null, out: null }, data: a.config.data, host: { workers: 1 } }),
    );
    let host = hostProcess(config, { NATS_URL: a.nats.url });
    await host.ready;
    const sender = await a.client("sender");
    const N = 300;
    const sending = sendAll(sender, N, () => undefined);
    await until(async () => (await tally(a)).c1!.count >= 60, 30_000, "progress");
    host.child.kill(signal);
    const code = await host.exited;
    const output = host.output();
    const atStop = await tally(a);
    host = hostProcess(config, { NATS_URL: a.nats.url });
    await host.ready;
    await sending;
    const t = await counted(a, N, 60_000);
    host.child.kill("SIGINT");
    const secondCode = await host.exited;
    await a.close();
    return { N, t, code, secondCode, output, atStop };
  }

  it("crash - kill -9 the host process mid-stream and restart it: each message handled once by each agent", async () => {
    const { N, t, atStop } = await hostStoppedMidStream("SIGKILL");
    console.log(
      `crash (b) host kill -9 at c1=${atStop.c1!.count}/c2=${atStop.c2!.count} of ${N}: afterwards ${COUNTERS.map((c) => `${c} counted ${t[c]!.count}, ${t[c]!.duplicates} duplicates`).join("; ")}`,
    );
    expectExactlyOnce(t, N);
  });

  it("crash - SIGTERM drains in-flight work and exits 0; nothing is processed twice after the restart", async () => {
    const { N, t, code, secondCode, output, atStop } = await hostStoppedMidStream("SIGTERM");
    expect(code).toBe(0);
    expect(secondCode).toBe(0);
    expect(output).toContain("SIGTERM: draining");
    console.log(
      `graceful SIGTERM at c1=${atStop.c1!.count} of ${N}: ${COUNTERS.map((c) => `${c} counted ${t[c]!.count}, ${t[c]!.duplicates} duplicates`).join("; ")}`,
    );
    expectExactlyOnce(t, N);
  });
});
