// `agora demo cross-talk`: the original failure — two agents acknowledging each
// other forever — replayed on real JetStream, with the controls bounding it.
import type { HostEvent } from "../protocol/events.js";
import { verifyFacts } from "../facts/verify.js";
import { builtAgent } from "./paths.js";
import { withDemoDeployment, type DemoOptions } from "./demo-deployment.js";

export interface CrossTalkResult {
  /** Messages on build-coord by hop value (the maintainer's request is hop 3). */
  byHop: Record<number, number>;
  published: number;
  /** Messages handed to each agent's component. */
  handled: Record<string, number>;
  /** Distinct (agent, id) pairs handled: equal to the sum of `handled` when each is processed once. */
  uniquePairs: number;
  echoDropped: number;
  /** Self-echo drops as the facts count them: one echo-dropped fact per agent and window, with its count. */
  echoFacts: number;
  echoesRecorded: number;
  hopExhausted: number;
  /** Deliveries of the secret on secret-ops (must be 0). */
  secretDelivered: number;
  /** The maintainer's request re-published with the same id: dropped by JetStream's dedup window. */
  replayDropped: boolean;
  facts: number;
  factsVerified: boolean;
  ms: number;
}

export type CrossTalkOptions = DemoOptions;

export async function runCrossTalk(options: CrossTalkOptions = {}): Promise<CrossTalkResult> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const raw = {
    channels: {
      "build-coord": { description: "build coordination" },
      "secret-ops": { description: "granted to nobody" },
    },
    agents: {
      "chatty-a": { component: builtAgent("chatty"), read: ["build-coord"], write: ["build-coord"] },
      "chatty-b": { component: builtAgent("chatty"), read: ["build-coord"], write: ["build-coord"] },
    },
    external: { maintainer: { write: ["build-coord", "secret-ops"] } },
    limits: { hop: 3 },
  };
  return withDemoDeployment(raw, options, async ({ host, events, client, facts }) => {
    log("agents: chatty-a, chatty-b (read+write build-coord); secret-ops is granted to nobody");
    const maintainer = await client("maintainer");
    const request = await maintainer.send("build-coord", "request", { task: "ship the release" }, { hop: 3 });
    log(`maintainer → build-coord: request ${request.env.id} (hop 3)`);
    const secret = await maintainer.send("secret-ops", "inform", { token: "s3cr3t" }, { hop: 3 });
    log(`maintainer → secret-ops: inform ${secret.env.id} (granted to nobody)`);
    const replay = await maintainer.send(
      "build-coord",
      "request",
      { task: "ship the release" },
      { hop: 3, id: request.env.id },
    );

    // Converged when both hop-0 emissions were dropped and nothing moved for a while.
    let last = -1;
    for (let i = 0; i < 500; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const exhausted = events.filter((e) => e.type === "hop_exhausted").length;
      if (exhausted >= 2 && events.length === last) break;
      last = events.length;
    }
    const handled = host.handled();
    const seen = [...events];
    await host.close(); // records the self-echo drops of the last window
    const echoFacts = (await facts()).filter((f) => f.type === "echo-dropped");

    const delivered = seen.filter((e): e is Extract<HostEvent, { type: "delivered" }> => e.type === "delivered");
    const emitted = seen.filter((e): e is Extract<HostEvent, { type: "emitted" }> => e.type === "emitted");
    const byHop: Record<number, number> = { 3: 1 };
    for (const e of emitted) byHop[e.hop] = (byHop[e.hop] ?? 0) + 1;
    const pairs = new Set(delivered.map((e) => `${e.agent}/${e.id}`));
    const report = verifyFacts(host.config.factsDir);
    return {
      byHop,
      published: 1 + emitted.length,
      handled,
      uniquePairs: pairs.size,
      echoDropped: seen.filter((e) => e.type === "echo_dropped").length,
      echoFacts: echoFacts.length,
      echoesRecorded: echoFacts.reduce(
        (n, f) => n + ((JSON.parse(String(f.fields.event)) as { count?: number }).count ?? 1),
        0,
      ),
      hopExhausted: seen.filter((e) => e.type === "hop_exhausted").length,
      secretDelivered: delivered.filter((e) => e.channel === "secret-ops").length,
      replayDropped: replay.ack.duplicate === true,
      facts: report.facts,
      factsVerified: report.ok,
      ms: Date.now() - started,
    };
  });
}

/** The result as the table `agora demo cross-talk` prints. */
export function formatCrossTalk(r: CrossTalkResult): string {
  const rows: [string, string][] = [
    ["messages on build-coord", String(r.published)],
    ["  by hop 3 / 2 / 1 / 0", [3, 2, 1, 0].map((h) => r.byHop[h] ?? 0).join(" / ")],
    ...Object.entries(r.handled).map(([a, n]): [string, string] => [`handled by ${a}`, String(n)]),
    [
      "distinct (agent, id) handled",
      `${r.uniquePairs} (each processed once: ${r.uniquePairs === Object.values(r.handled).reduce((a, b) => a + b, 0) ? "yes" : "NO"})`,
    ],
    ["echoes dropped", `${r.echoDropped} (recorded as ${r.echoFacts} fact(s) counting ${r.echoesRecorded})`],
    ["emissions dropped at hop 0", String(r.hopExhausted)],
    ["secret deliveries (secret-ops)", String(r.secretDelivered)],
    ["replayed request id", r.replayDropped ? "dropped by JetStream dedup" : "NOT dropped"],
    ["facts recorded / verified", `${r.facts} / ${r.factsVerified ? "ok" : "FAILED"}`],
    ["converged in", `${r.ms} ms`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}
