// The kill switch is not stalled by viewers: heavy facts queries run off the
// event loop, so POST /api/kill answers fast while they run.
import { describe, expect, it } from "vitest";
import { FactLog } from "../../facts/fact-log.js";
import { factId, type Fact } from "../../facts/fact.js";
import { startAgora, TOKENS } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";

/** `n` speech-act facts of ~600 bytes each on channel `channel` (the facts a busy deployment has). */
function writeFacts(dir: string, n: number, channel: string): void {
  const log = new FactLog(dir, 64 * 1024 * 1024);
  log.open();
  const batch: Fact[] = [];
  for (let seq = 1; seq <= n; seq++) {
    batch.push({
      id: factId(seq),
      type: "speech-act",
      title: `maintainer → ${channel}: inform`,
      status: "accepted",
      tags: [channel, "inform"],
      fields: {
        "envelope-id": `e${seq}`,
        channel,
        sender: "maintainer",
        act: "inform",
        body: JSON.stringify({ text: "x".repeat(400) }),
        hop: 3,
        ts: new Date().toISOString(),
        sig: "s".repeat(86),
        seq,
        subject: `agora.ch.${channel}`,
        prev: "genesis",
        rsig: "r".repeat(86),
      },
      provenance: { "created-by": "agora-recorder", timestamp: new Date().toISOString() },
    });
    if (batch.length === 500) log.append(batch.splice(0));
  }
  log.append(batch);
}

const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

describe("gateway - kill switch under viewer load", () => {
  it("gateway - POST /api/kill answers fast while viewers run heavy facts queries", async () => {
    await using a = await startAgora({
      channels: ["build-coord", "quiet"],
      agents: { responder: { component: agentWasm("responder"), read: ["build-coord"], write: ["build-coord"] } },
    });
    writeFacts(a.config.factsDir, 6000, "build-coord");
    await a.startHost();
    const g = await a.startGateway();
    const url = await g.listen({ port: 0 });
    const auth = (token: string) => ({ authorization: `Bearer ${token}`, "content-type": "application/json" });

    // Viewers: a query for a channel with no facts reads and parses every facts file.
    let stop = false;
    const answered = { ok: 0, limited: 0, other: 0 };
    const viewer = async () => {
      while (!stop) {
        const res = await fetch(`${url}/api/facts?channel=quiet&limit=500`, { headers: auth(TOKENS.viewer) });
        await res.arrayBuffer();
        if (res.status === 200) answered.ok++;
        else if (res.status === 429) answered.limited++;
        else answered.other++;
      }
    };
    const viewers = Array.from({ length: 6 }, viewer);
    await new Promise((r) => setTimeout(r, 300)); // the queries are running

    // The operator's console is open: its connection is up (a first fetch also pays for the HTTP client's own start).
    await (await fetch(`${url}/api/agents`, { headers: auth(TOKENS.operator) })).arrayBuffer();
    const ms: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const res = await fetch(`${url}/api/${i % 2 === 0 ? "kill" : "revive"}`, {
        method: "POST",
        headers: auth(TOKENS.operator),
        body: JSON.stringify({ agent: "responder" }),
      });
      expect(res.status).toBe(200);
      await res.json();
      ms.push(performance.now() - started);
    }
    stop = true;
    await Promise.all(viewers);
    const p50 = quantile(ms, 0.5);
    const p99 = quantile(ms, 0.99);
    console.log(
      `kill under viewer load: 20 kill/revive calls p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; viewer queries over 6,000 facts: ${answered.ok} answered, ${answered.limited} refused (429), ${answered.other} other`,
    );
    expect(answered.ok).toBeGreaterThan(0);
    expect(answered.other).toBe(0);
    // Not a benchmark (npm run bench measures the kill under load): the loop must not wait behind the
    // queries. Parsed on it, 6 viewers' queries over 6,000 facts hold each kill for seconds; one
    // slow call of 20 on a busy machine (a GC, another process) is not that.
    expect(p50).toBeLessThan(100);
    expect(Math.max(...ms)).toBeLessThan(500);
  });
});
