// Counting agents (test/fixtures/counter) for crash and cluster tests: what each
// counter did, read from KV and the stream — its count, its replies, duplicates.
import { spawn, type ChildProcess } from "node:child_process";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { expect } from "vitest";
import type { AgoraClient } from "../../sdk/client.js";
import { type Infrastructure } from "../../transport/infrastructure.js";
import { until } from "./agora.js";
import { ROOT } from "./paths.js";
import { STREAM } from "../../protocol/subjects.js";
import { CLI_ARGS } from "./cli.js";

export interface Tally {
  count: number;
  replies: number;
  distinct: number;
  duplicates: number;
}

/** Each counter's count (KV) and its replies on `out` (stream). */
export async function tally(infra: Infrastructure, counters: readonly string[]): Promise<Record<string, Tally>> {
  const replies = new Map<string, string[]>();
  const duplicates = new Map<string, number>();
  // Counts first, replies second: a reply is published before its count is written, so none can be missed.
  const counts: Record<string, number> = {};
  for (const c of counters)
    counts[c] = Number((await infra.state.get(`${c}.${Buffer.from("count").toString("base64url")}`))?.string() ?? "0");
  // Every reply on `out`, read through an ephemeral consumer (no message is skipped silently).
  const ci = await infra.jsm.consumers.add(STREAM, {
    filter_subject: "agora.ch.out",
    deliver_policy: DeliverPolicy.All,
    ack_policy: AckPolicy.None,
    inactive_threshold: 10_000_000_000,
  });
  const consumer = await infra.js.consumers.get(STREAM, ci.name);
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
  await infra.jsm.consumers.delete(STREAM, ci.name).catch(() => {});
  const out: Record<string, Tally> = {};
  for (const c of counters) {
    const r = replies.get(c) ?? [];
    out[c] = { count: counts[c]!, replies: r.length, distinct: new Set(r).size, duplicates: duplicates.get(c) ?? 0 };
  }
  return out;
}

/** Wait (up to `ms`) until every counter reached `n`; the tally either way. */
export async function counted(
  infra: Infrastructure,
  counters: readonly string[],
  n: number,
  ms: number,
): Promise<Record<string, Tally>> {
  // A tally may fail while NATS fails over (the test kills nodes): keep the last good one.
  let t: Record<string, Tally> | undefined;
  await until(
    async () => {
      t = await tally(infra, counters).catch(() => t);
      return t !== undefined && counters.every((c) => t![c]!.count >= n);
    },
    ms,
    `each counter to reach ${n}`,
  ).catch(() => {});
  return t ?? (await tally(infra, counters));
}

export function expectExactlyOnce(t: Record<string, Tally>, n: number): void {
  for (const [c, v] of Object.entries(t)) expect(v, c).toEqual({ count: n, replies: n, distinct: n, duplicates: 0 });
}

export function describeTally(t: Record<string, Tally>): string {
  return Object.entries(t)
    .map(([c, v]) => `${c} counted ${v.count}, replied ${v.distinct} distinct, ${v.duplicates} duplicates`)
    .join("; ");
}

/** Send `n` requests on `work` one by one (each retried through outages), calling `at(i)` before each. */
export async function sendAll(
  c: AgoraClient,
  n: number,
  at: (i: number) => Promise<void> | void = () => undefined,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    await at(i);
    ids.push((await c.send("work", "request", { i })).env.id);
  }
  return ids;
}

export interface HostProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves once the host has taken its first share of agents. */
  ready: Promise<void>;
  /** Resolves with the exit code (or signal). */
  exited: Promise<number | string | null>;
}

/** `agora host --config <config> --no-facts` as a child process (from the TypeScript sources). */
export function hostProcess(config: string, env: Record<string, string>): HostProcess {
  const child = spawn(process.execPath, [...CLI_ARGS, "host", "--config", config, "--no-facts"], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | string | null>((r) => child.once("exit", (code, signal) => r(code ?? signal)));
  const ready = until(() => /host \S+ running \d+ agent/.test(out), 30_000, "host process").catch((err) => {
    throw new Error(`${String(err)}; host output:\n${out}`);
  });
  return { child, output: () => out, ready, exited };
}
