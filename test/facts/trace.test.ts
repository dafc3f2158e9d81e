// Delivery status: for one message, per agent that may read its channel —
// handled (with its answer), dead-lettered, pending, rejected — and by which
// fact; from the CLI (`agora trace`), the console's API and the SDK.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { headers } from "@nats-io/transport-node";
import { connect, type Trace } from "../../sdk/index.js";
import { channelSubject, markerKey } from "../../protocol/subjects.js";
import { traceMessage } from "../../transport/delivery.js";
import { encodeEnvelope } from "../../protocol/envelope.js";
import { signEnvelope } from "../../trust/signing.js";
import { startAgora, TOKENS, until } from "../helpers/agora.js";
import { agentWasm, fixtureWasm, ROOT } from "../helpers/paths.js";
import { CLI_ARGS } from "../helpers/cli.js";

describe("trace", () => {
  it("trace - handled with its answer, dead-lettered by its fact, pending, rejected: agora trace, /api/trace and status()", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: {
        responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] },
        trapper: { component: fixtureWasm("trapper"), read: ["work"], write: ["work"] },
      },
      external: { maintainer: { read: ["work"], write: ["work"] }, listener: { read: ["work"] } },
      limits: { maxDeliver: 2, restartBackoff: "10ms", maxRestarts: 20 },
    });
    await a.startRecorder();
    await a.startHost();
    const g = await a.startGateway();
    await using maintainer = await connect({ name: "maintainer", config: a.config, servers: a.nats.url });
    // `failure` makes the trapper trap every time; the responder agrees to anything.
    const { env } = await maintainer.send("work", "failure", {});
    await until(
      async () =>
        (await maintainer.status(env)).recipients.find((r) => r.agent === "trapper")?.status === "dead-lettered",
      20_000,
      "the trapper's dead letter",
    );
    await until(
      async () => (await maintainer.status(env)).recipients.find((r) => r.agent === "responder")?.status === "handled",
      10_000,
      "the responder",
    );
    // The SDK sees the markers: the listener never opened an inbox.
    const fromSdk = await maintainer.status(env);
    expect(Object.fromEntries(fromSdk.recipients.map((r) => [r.agent, r.status]))).toEqual({
      responder: "handled",
      trapper: "dead-lettered",
      listener: "pending",
    });
    await a.settleFacts();

    // The CLI adds the facts: the message's own, the dead letter's, the answer.
    const file = join(a.dir, "agora.json");
    writeFileSync(
      file,
      JSON.stringify({
        data: a.config.data,
        channels: { work: null },
        agents: {
          responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] },
          trapper: { component: fixtureWasm("trapper"), read: ["work"], write: ["work"] },
        },
        external: { maintainer: { read: ["work"], write: ["work"] }, listener: { read: ["work"] } },
      }),
    );
    const cli = (args: string[]) =>
      execFileSync(process.execPath, [...CLI_ARGS, ...args], {
        cwd: ROOT,
        env: { ...process.env, NATS_URL: a.nats.url },
        encoding: "utf8",
      });
    const t = JSON.parse(cli(["trace", "--config", file, "--json", "--", env.id])) as Trace;
    const by = Object.fromEntries(t.recipients.map((r) => [r.agent, r]));
    expect(t).toMatchObject({ id: env.id, channel: "work", sender: "maintainer", act: "failure" });
    expect(t.fact).toMatch(/^FACT-\d+$/);
    expect(by.trapper).toMatchObject({ status: "dead-lettered", reason: "AGORA_ERR_COMPONENT_TRAP" });
    expect(by.trapper!.facts.length).toBeGreaterThanOrEqual(1);
    expect(by.responder).toMatchObject({ status: "handled", replies: [] }); // it answers requests only
    expect(by.listener!.status).toBe("pending");
    // A request: the responder's answer, with its fact.
    const req = await maintainer.send("work", "request", { q: 1 });
    await until(
      async () =>
        (await maintainer.status(req.env)).recipients.every((x) => x.agent === "listener" || x.status === "handled"),
      10_000,
      "the request handled",
    );
    // The SDK's status of a hosted agent is its claim (an external identity may not read the host's consumer):
    // the answer is in the stream once the host has committed the request — its second message (the first: `failure`).
    await until(() => (a.host!.handled().responder ?? 0) >= 2, 10_000, "the request committed");
    await a.settleFacts();
    const q = JSON.parse(cli(["trace", "--config", file, "--json", "--", req.env.id])) as Trace;
    const answer = q.recipients.find((x) => x.agent === "responder")!.replies;
    expect(answer).toHaveLength(1);
    expect(answer[0]![1]).toMatch(/^FACT-\d+$/);
    const text = cli(["trace", "--config", file, "--", env.id]);
    expect(text).toMatch(/trapper\s+hosted\s+dead-lettered \(AGORA_ERR_COMPONENT_TRAP\)/);
    console.log(`trace:\n${text}`);

    // The console's API says the same (the facts are read in the worker thread).
    const api = await g.app.inject({
      url: `/api/trace/${env.id}`,
      headers: { authorization: `Bearer ${TOKENS.viewer}` },
    });
    expect(api.statusCode).toBe(200);
    expect((api.json() as Trace).recipients.find((r) => r.agent === "trapper")?.status).toBe("dead-lettered");
    expect(
      (await g.app.inject({ url: "/api/trace/not%20an%20id", headers: { authorization: `Bearer ${TOKENS.viewer}` } }))
        .statusCode,
    ).toBe(400);

    // A genuine message too old to prove new (two days): every host-run reader refused it, and the trace says so.
    const old = signEnvelope(a.keys.load("maintainer").privateKey, {
      v: 1,
      id: "too-old-1",
      channel: "work",
      sender: "maintainer",
      act: "inform",
      body: {},
      hop: 3,
      ts: new Date(Date.now() - 48 * 3_600_000).toISOString(),
    });
    const oh = headers();
    oh.set("Nats-Msg-Id", old.id);
    await a.infra.js.publish(channelSubject("work"), encodeEnvelope(old), { headers: oh });
    await until(
      async () =>
        (await maintainer.status(old)).recipients
          .filter((x) => x.kind === "hosted")
          .every((x) => x.status === "rejected"),
      10_000,
      "the too-old message refused by both hosted readers",
    );
    expect((await maintainer.status(old)).recipients.find((x) => x.agent === "responder")?.reason).toBe(
      "AGORA_ERR_TIMESTAMP",
    );

    // A forged message: rejected, delivered to nobody.
    const forged = { ...env, id: "forged-trace-1", body: { changed: true } };
    const h = headers();
    h.set("Nats-Msg-Id", forged.id);
    await a.infra.js.publish(channelSubject("work"), encodeEnvelope(forged), { headers: h });
    await a.settleFacts();
    const r = JSON.parse(cli(["trace", "--config", file, "--json", "--", forged.id])) as Trace;
    expect(r.rejected?.code).toBe("AGORA_ERR_BAD_SIGNATURE");
    expect(r.recipients.every((x) => x.status === "rejected")).toBe(true);
  }, 60_000);
  it("trace - a hosted agent's message is handling from its claim until its commit is acknowledged, not handled", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: { spinner: { component: fixtureWasm("spinner"), read: ["work"], write: ["work"] } },
      external: { maintainer: { read: ["work"], write: ["work"] } },
      limits: { callDeadline: "3s", restartBackoff: "10ms" },
    });
    await a.startHost();
    const m = await a.client("maintainer");
    // The spinner never returns from a request: its marker holds the claim (the sequence) while it runs.
    const spin = await m.send("work", "request", {});
    const key = markerKey("spinner", spin.env.id);
    await until(async () => (await a.infra.processed.get(key))?.string() === String(spin.ack.seq), 5000, "claimed");
    const t = await traceMessage(a.config, a.infra, spin.env.id, { channel: "work", sender: "maintainer" });
    expect(t.recipients.find((r) => r.agent === "spinner")!.status).toBe("handling");
  });
});
