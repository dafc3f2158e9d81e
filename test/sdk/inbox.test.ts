// The SDK's durable verified inbox, reply and request, against a real nats-server
// with auth on: an external agent logs in with its own key and gets each message
// once across restarts; forged, unsigned and ungranted messages never reach it.
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { headers } from "@nats-io/transport-node";
import { connect, type Agent, type InboxRejection } from "../../sdk/index.js";
import { channelSubject } from "../../protocol/subjects.js";
import { encodeEnvelope, type Envelope } from "../../protocol/envelope.js";
import { generateRawKeyPair, privateKeyObject, signEnvelope } from "../../trust/signing.js";
import { startAgora, until, type TestAgora } from "../helpers/agora.js";
import { agentWasm, ROOT } from "../helpers/paths.js";

const spec = {
  channels: ["work", "other"],
  agents: { responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] } },
  external: {
    listener: { read: ["work"], write: ["work"] },
    maintainer: { read: ["work"], write: ["work", "other"] },
    spectator: { read: ["work"] },
  },
};

const joinAs = (a: TestAgora, name = "listener"): Promise<Agent> =>
  connect({ name, keysDir: a.config.keysDir, servers: a.nats.url, config: a.config });

/** Take messages from a fresh inbox until `n` arrived or `ms` passed quietly. */
async function drain(agent: Agent, n: number, ms = 1500): Promise<Envelope[]> {
  const inbox = await agent.inbox();
  const got: Envelope[] = [];
  const it = inbox[Symbol.asyncIterator]();
  for (;;) {
    const next = await Promise.race([it.next(), new Promise<null>((r) => setTimeout(() => r(null), ms))]);
    if (next === null || next.done) break;
    got.push(next.value.env);
    if (got.length >= n) break;
  }
  await inbox.complete(); // the last one's turn is over too
  await inbox.return();
  return got;
}

describe("sdk inbox", () => {
  it("sdk - offline while 100 messages arrive: each exactly once after it reconnects, none again after a second restart", async () => {
    await using a = await startAgora(spec);
    const maintainer = await a.client("maintainer");
    // The inbox exists from its first opening on.
    let agent = await joinAs(a);
    expect(await drain(agent, 1, 300)).toHaveLength(0);
    await agent.close();
    const sent = new Set<string>();
    for (let i = 0; i < 100; i++) sent.add((await maintainer.send("work", "inform", { i })).env.id);

    agent = await joinAs(a);
    const first = await drain(agent, 100);
    await agent.close();
    expect(first.map((e) => e.id).sort()).toEqual([...sent].sort());
    expect(new Set(first.map((e) => e.id)).size).toBe(100);

    agent = await joinAs(a);
    expect(await drain(agent, 1, 1000)).toHaveLength(0);
    await agent.close();
  });

  it("sdk - a handler that throws leaves its message to come back; close() never hangs on a message being checked", async () => {
    await using a = await startAgora(spec);
    const maintainer = await a.client("maintainer");
    let agent = await joinAs(a);
    const inbox = await agent.inbox();
    const sent = await maintainer.send("work", "inform", { n: 1 });
    await expect(
      (async () => {
        for await (const m of inbox) {
          expect(m.env.id).toBe(sent.env.id);
          throw new Error("the handler failed");
        }
      })(),
    ).rejects.toThrow(/handler failed/);
    await agent.close();
    agent = await joinAs(a);
    expect((await drain(agent, 1, 5000)).map((e) => e.id)).toEqual([sent.env.id]); // back, not lost
    await agent.close();
  });

  it("sdk - a message whose turn did not complete comes back; a completed one never does", async () => {
    await using a = await startAgora(spec);
    const maintainer = await a.client("maintainer");
    let agent = await joinAs(a);
    const inbox = await agent.inbox();
    const one = await maintainer.send("work", "inform", { n: 1 });
    const two = await maintainer.send("work", "inform", { n: 2 });
    const it = inbox[Symbol.asyncIterator]();
    expect((await it.next()).value!.env.id).toBe(one.env.id);
    expect((await it.next()).value!.env.id).toBe(two.env.id); // one's turn completed here
    await agent.close(); // two's turn never did: the process "died" mid-turn
    agent = await joinAs(a);
    const again = await drain(agent, 5, 1500);
    expect(again.map((e) => e.id)).toEqual([two.env.id]);
    await agent.close();
  });

  it("sdk - forged, unsigned, unknown-sender and ungranted messages never reach the handler; its own are dropped", async () => {
    await using a = await startAgora(spec);
    const maintainer = await a.client("maintainer");
    const rejections: InboxRejection[] = [];
    await using agent = await connect({
      name: "listener",
      keysDir: a.config.keysDir,
      servers: a.nats.url,
      config: a.config,
    });
    const inbox = await agent.inbox({ onRejected: (r) => rejections.push(r) });
    const good = await maintainer.send("work", "inform", { ok: true });
    const base = { ...good.env, id: "forged-1", body: { ok: false } };
    const publish = async (data: Uint8Array | string, id: string) => {
      const h = headers();
      h.set("Nats-Msg-Id", id);
      await a.infra.js.publish(channelSubject("work"), data, { headers: h }); // as the admin: NATS lets it through
    };
    await publish(encodeEnvelope(base), "forged-1"); // body changed under the maintainer's signature
    await publish(JSON.stringify({ ...good.env, id: "unsigned-1", sig: undefined }), "unsigned-1");
    const ghost = privateKeyObject(generateRawKeyPair());
    const unsigned = { ...good.env, id: "ghost-1", sender: "ghost" } as Omit<Envelope, "sig"> & { sig?: string };
    delete unsigned.sig;
    await publish(encodeEnvelope(signEnvelope(ghost, unsigned)), "ghost-1");
    // A signed message moved to another channel's subject, and one by an identity without a write grant.
    await publish(encodeEnvelope({ ...good.env, id: "moved-1", channel: "other" }), "moved-1");
    const spectator = (await a.client("spectator")).identity;
    const ungranted = { ...unsigned, id: "ungranted-1", sender: "spectator" };
    await publish(encodeEnvelope(signEnvelope(spectator.privateKey, ungranted)), "ungranted-1");
    await agent.send("work", "inform", { mine: true });
    const last = await maintainer.send("work", "inform", { last: true });
    const got: string[] = [];
    for await (const m of inbox) {
      got.push(m.env.id);
      if (m.env.id === last.env.id) {
        await inbox.complete();
        break;
      }
    }
    expect(got).toEqual([good.env.id, last.env.id]);
    expect(inbox.counters).toMatchObject({ rejected: 5, echoDropped: 1, delivered: 2 });
    expect(rejections.map((r) => r.code).sort()).toEqual(
      [
        "AGORA_ERR_BAD_ENVELOPE",
        "AGORA_ERR_BAD_SIGNATURE",
        "AGORA_ERR_CHANNEL_MISMATCH",
        "AGORA_ERR_NOT_GRANTED",
        "AGORA_ERR_UNKNOWN_SENDER",
      ].sort(),
    );
  });

  it("sdk - request gets the hosted agent's verified answer; with nobody to answer it times out with a code; grants hold", async () => {
    await using a = await startAgora(spec);
    await a.startHost();
    await a.client("maintainer");
    await using agent = await joinAs(a, "maintainer");
    const [answer] = await agent.request("work", "request", { task: "build" }, { timeoutMs: 10_000 });
    expect(answer).toMatchObject({ sender: "responder", act: "agree", hop: 2 });
    await a.stopHost();
    await expect(agent.request("work", "request", { task: "x" }, { timeoutMs: 300 })).rejects.toMatchObject({
      code: "AGORA_ERR_REQUEST_TIMEOUT",
    });
    await expect(agent.request("other", "request", {}, { timeoutMs: 300 })).rejects.toMatchObject({
      code: "AGORA_ERR_NOT_GRANTED",
    });
    await expect(agent.inbox({ channels: ["other"] })).rejects.toMatchObject({ code: "AGORA_ERR_NOT_GRANTED" });
  });

  it("sdk - reply stamps re, conv and hop − 1 with an id a repeated turn cannot duplicate; at hop 0 it refuses", async () => {
    await using a = await startAgora(spec);
    const maintainer = await a.client("maintainer");
    await using agent = await joinAs(a);
    const inbox = await agent.inbox();
    const req = await maintainer.send("work", "request", { q: 1 }, { hop: 2 });
    const last = await maintainer.send("work", "inform", { q: 2 }, { hop: 0 });
    const seen: Envelope[] = [];
    for await (const m of inbox) {
      seen.push(m.env);
      if (m.env.id === req.env.id) {
        const r = await agent.reply(m, "agree", { ok: true });
        expect(r.env).toMatchObject({ re: req.env.id, conv: req.env.id, hop: 1, channel: "work" });
      }
      if (m.env.id === last.env.id) {
        expect(() => agent.reply(m, "agree", {})).toThrow(expect.objectContaining({ code: "AGORA_ERR_HOP_EXHAUSTED" }));
        await inbox.complete();
        break;
      }
    }
    expect(seen.map((e) => e.id)).toEqual([req.env.id, last.env.id]);
    // The same turn repeated (after a crash) republishes the same id: JetStream drops it.
    const other = await joinAs(a);
    const again = await other.reply(req.env, "agree", { ok: true });
    expect(again.ack.duplicate).toBe(true);
    await other.close();
    await until(async () => inbox.counters.delivered === 2, 2000, "both turns completed");
  });

  it("sdk - kill -9 of the agent's process mid-batch loses nothing and doubles nothing", async () => {
    // What the dead process had fetched comes back after ack_wait.
    await using a = await startAgora({ ...spec, limits: { ackWait: "3s" } });
    const maintainer = await a.client("maintainer");
    const file = join(a.dir, "agora.json");
    writeFileSync(
      file,
      JSON.stringify({
        data: a.config.data,
        channels: { work: null, other: null },
        external: spec.external,
        limits: { ackWait: "3s" },
      }),
    );
    const start = () => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", join(ROOT, "test", "fixtures", "sdk-agent", "agent.ts")],
        {
          cwd: ROOT,
          env: { ...process.env, AGORA_CONFIG: file, NATS_URL: a.nats.url, AGENT_NAME: "listener" },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      const out = { text: "", handled: () => out.text.split("\n").filter((l) => l.startsWith("handled ")).length };
      child.stdout.on("data", (d) => (out.text += d));
      child.stderr.on("data", (d) => (out.text += d));
      return { child, out, exited: new Promise((r) => child.once("exit", r)) };
    };
    let run = start();
    await until(() => run.out.text.includes("ready"), 20_000, "the agent process to start");
    const N = 100;
    const ids: string[] = [];
    for (let i = 0; i < N; i++) ids.push((await maintainer.send("work", "request", { n: i })).env.id);
    await until(() => run.out.handled() >= 30, 20_000, "30 handled");
    run.child.kill("SIGKILL");
    await run.exited;
    const before = run.out.handled();
    run = start();
    // Every request answered exactly once on the stream, whatever the kill interrupted.
    const answers = async () => {
      const seen = new Map<string, number>();
      const inbox = await a.infra.jsm.streams.info("AGORA");
      for (let seq = 1; seq <= inbox.state.last_seq; seq++) {
        const m = await a.infra.jsm.streams.getMessage("AGORA", { seq }).catch(() => null);
        const env = m?.json<Envelope>();
        if (env?.sender === "listener" && env.re) seen.set(env.re, (seen.get(env.re) ?? 0) + 1);
      }
      return seen;
    };
    await until(async () => (await answers()).size >= N, 30_000, "every request answered").catch((err: Error) => {
      throw new Error(`${err.message}; the restarted agent said:\n${run.out.text.slice(-1500)}`);
    });
    const seen = await answers();
    run.child.kill("SIGKILL");
    await run.exited;
    console.log(
      `sdk kill -9: ${before} handled before the kill, ${run.out.handled()} after; ${seen.size} requests answered, ${[...seen.values()].filter((n) => n > 1).length} twice`,
    );
    expect([...seen.keys()].sort()).toEqual([...ids].sort());
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  }, 90_000);
});
