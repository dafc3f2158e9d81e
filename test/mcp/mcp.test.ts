// agora mcp, driven as a real child process by the MCP SDK's Client over stdio:
// an LLM agent joins as one external identity — its tools and their schemas,
// what it reads and how it answers (signed by that identity, one hop lower),
// what it is refused (hop 0, a repeated answer, past its budget, killed), two
// scripted "models" acknowledging each other converging within the hop budget,
// and the kill switch stopping it.
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterEach, describe, expect, it } from "vitest";
import type { HostEvent } from "../../protocol/events.js";
import { ACTS, connect, publicKeyObject, verifyEnvelope, type Envelope } from "../../sdk/index.js";
import { channelSubject, STREAM } from "../../protocol/subjects.js";
import {
  collectEvents,
  readFacts,
  startAgora,
  TOKENS,
  until,
  type AgoraSpec,
  type TestAgora,
} from "../helpers/agora.js";
import { agentWasm, ROOT } from "../helpers/paths.js";
import { CLI_ARGS } from "../helpers/cli.js";

const execFileP = promisify(execFile);
const op = { authorization: `Bearer ${TOKENS.operator}` };
const TOOLS = ["agora_agents", "agora_channels", "agora_read", "agora_request", "agora_send", "agora_status"];

/** The test agora's config as a file the child process loads. */
function configFile(a: TestAgora, spec: AgoraSpec): string {
  const file = join(a.dir, "agora.json");
  writeFileSync(
    file,
    JSON.stringify({
      data: a.config.data,
      channels: Object.fromEntries(spec.channels.map((c) => [c, null])),
      agents: spec.agents ?? {},
      external: spec.external ?? {},
      limits: spec.limits ?? {},
    }),
  );
  return file;
}

const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
});

/** `agora mcp --as <name>` as a child process, with an MCP client connected over its stdio. */
async function mcpAs(name: string, file: string, natsUrl: string): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...CLI_ARGS, "mcp", "--as", name, "--config", file],
    env: { ...(process.env as Record<string, string>), NATS_URL: natsUrl },
    cwd: ROOT,
    stderr: process.env.AGORA_TEST_MCP_STDERR ? "inherit" : "ignore",
  });
  const client = new Client({ name: `model-${name}`, version: "1.0.0" });
  await client.connect(transport);
  clients.push(client);
  return client;
}

interface Called {
  /** The parsed JSON the tool returned. */
  value?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The refusal's text (code first), when the tool refused. */
  error?: string;
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<Called> {
  const r = await client.callTool({ name, arguments: args });
  const text = (r.content as { type: string; text: string }[])[0]!.text;
  return r.isError ? { error: text } : { value: JSON.parse(text) };
}

describe("mcp", () => {
  it("mcp - tools with schemas; a request read and answered, signed by the identity one hop lower; hop 0, a repeated answer and a spent budget refused", async () => {
    const spec: AgoraSpec = {
      channels: ["work"],
      external: {
        alice: { read: ["work"], write: ["work"], actsPerMinute: 6 },
        asker: { read: ["work"], write: ["work"] },
      },
    };
    await using a = await startAgora(spec);
    const file = configFile(a, spec);
    await using asker = await connect({ name: "asker", config: a.config, servers: a.nats.url });
    const alice = await mcpAs("alice", file, a.nats.url);

    // Tools, with input schemas a model can follow.
    const { tools } = await alice.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
    for (const t of tools) {
      expect(t.inputSchema.type).toBe("object");
      expect(t.description!.length).toBeGreaterThan(60);
    }
    const send = tools.find((t) => t.name === "agora_send")!.inputSchema.properties as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(send.act.enum).toEqual([...ACTS]);
    expect(Object.keys(send).sort()).toEqual(["act", "body", "channel", "deliberate", "re"]);
    expect(tools.find((t) => t.name === "agora_read")!.description).toMatch(/hop 0/);

    // A request from another agent is read…
    const request = await asker.send("work", "request", { task: "lint the parser" }, { hop: 3 });
    const read = await call(alice, "agora_read", { waitSeconds: 10 });
    expect(read.value.messages).toEqual([
      expect.objectContaining({
        id: request.env.id,
        from: "asker",
        act: "request",
        body: { task: "lint the parser" },
        hop: 3,
        signature: "verified",
        answerable: true,
      }),
    ]);
    // …read once: asking again returns nothing new.
    expect((await call(alice, "agora_read")).value.messages).toEqual([]);
    // …and answered: on the channel, signed with alice's key, one hop lower, in the request's conversation.
    const agree = await call(alice, "agora_send", { act: "agree", re: request.env.id, body: { eta: "5m" } });
    expect(agree.value.sent).toMatchObject({ act: "agree", hop: 2, re: request.env.id, conv: request.env.id });
    const stored = await a.infra.jsm.streams.getMessage(STREAM, { last_by_subj: channelSubject("work") });
    const env = stored!.json<Envelope>();
    expect(env).toMatchObject({ sender: "alice", act: "agree", hop: 2, re: request.env.id });
    expect(verifyEnvelope(publicKeyObject(a.keys.load("alice").publicKey), env)).toBe(true);

    // The ack loop's first step is refused: the same act to the same message, unless deliberate.
    const again = await call(alice, "agora_send", { act: "agree", re: request.env.id, body: { eta: "5m" } });
    expect(again.error).toMatch(/^AGORA_ERR_DUPLICATE_ANSWER: .*\nYou already sent this act/s);
    const deliberate = await call(alice, "agora_send", {
      act: "agree",
      re: request.env.id,
      body: { eta: "4m" },
      deliberate: true,
    });
    expect(deliberate.value.sent.hop).toBe(2);

    // A message at hop 0 may not be answered: refused with what to do.
    const last = await asker.send("work", "inform", { done: true }, { hop: 0 });
    const got = await call(alice, "agora_read", { waitSeconds: 10 });
    expect(got.value.messages.find((m: { id: string }) => m.id === last.env.id)).toMatchObject({
      hop: 0,
      answerable: false,
    });
    const hop0 = await call(alice, "agora_send", { act: "inform", re: last.env.id, body: "thanks" });
    expect(hop0.error).toMatch(/^AGORA_ERR_HOP_EXHAUSTED: .*\nDo not answer this message/s);
    // An answer to a message it never read is a usage error, not a guess.
    expect((await call(alice, "agora_send", { act: "inform", re: "m-unknown-0001", body: 1 })).error).toMatch(
      /^AGORA_ERR_USAGE/,
    );

    // agora_request: the asker answers requests from alice (its inbox exists before the request is sent).
    const askerInbox = await asker.inbox();
    const answering = (async () => {
      for await (const m of askerInbox) {
        if (m.env.sender === "alice" && m.env.act === "request") {
          await asker.reply(m, "inform", { answer: 42 });
          await askerInbox.complete();
          break;
        }
      }
    })();
    const answered = await call(alice, "agora_request", {
      channel: "work",
      body: { q: "answer?" },
      timeoutSeconds: 10,
    });
    await answering;
    expect(answered.value.answers).toEqual([
      expect.objectContaining({ from: "asker", act: "inform", body: { answer: 42 }, hop: 2 }),
    ]);
    // Delivery status of what it sent.
    const status = await call(alice, "agora_status", { id: agree.value.sent.id });
    expect(status.value.recipients).toEqual([expect.objectContaining({ agent: "asker", kind: "external" })]);
    // Its channels and who is on agora.
    const channels = await call(alice, "agora_channels");
    expect(channels.value).toMatchObject({
      you: "alice",
      killed: false,
      hopBudget: 3,
      actsPerMinute: 6,
      channels: [{ name: "work", read: true, write: true, readers: ["asker"] }],
    });
    const agents = await call(alice, "agora_agents");
    expect(agents.value.find((x: { name: string }) => x.name === "alice")).toMatchObject({
      kind: "external",
      status: expect.stringMatching(/idle|working/),
    });

    // The budget: 6 acts a minute. 3 were sent (agree, the deliberate agree, the request); 3 more pass.
    const results: Called[] = [];
    for (let i = 0; i < 4; i++)
      results.push(await call(alice, "agora_send", { channel: "work", act: "inform", body: i }));
    expect(results.slice(0, 3).every((r) => r.value)).toBe(true);
    expect(results[3]!.error).toMatch(/^AGORA_ERR_SEND_BUDGET: .*\nStop sending for now/s);
  }, 90_000);

  it("mcp - two MCP-connected identities whose scripted model answers every message converge within the hop budget", async () => {
    const spec: AgoraSpec = {
      channels: ["chat"],
      external: {
        alice: { read: ["chat"], write: ["chat"] },
        bob: { read: ["chat"], write: ["chat"] },
        starter: { write: ["chat"] },
      },
    };
    await using a = await startAgora(spec);
    const file = configFile(a, spec);
    const [alice, bob] = await Promise.all([mcpAs("alice", file, a.nats.url), mcpAs("bob", file, a.nats.url)]);
    // Both inboxes exist before the first message (the servers open them at start).
    const starter = await a.client("starter");
    const started = performance.now();
    await starter.send("chat", "inform", { text: "hello, both of you" }, { hop: 3 });
    /** The naive model: acknowledge every message read, until nothing comes for three reads. */
    const model = async (c: Client) => {
      const out = { sent: 0, refused: [] as string[] };
      for (let idle = 0; idle < 3;) {
        const { value } = await call(c, "agora_read", { waitSeconds: 1 });
        if (value.messages.length === 0) {
          idle++;
          continue;
        }
        idle = 0;
        for (const m of value.messages) {
          const r = await call(c, "agora_send", { act: "inform", re: m.id, body: { text: "ack, thanks!" } });
          if (r.error) out.refused.push(r.error.split(":")[0]!);
          else out.sent++;
        }
      }
      return out;
    };
    const [ra, rb] = await Promise.all([model(alice), model(bob)]);
    const ms = Math.round(performance.now() - started);
    console.log(
      `ack loop through MCP: hello at hop 3 → alice sent ${ra.sent}, bob sent ${rb.sent} (total ${ra.sent + rb.sent}); refused at hop 0: ${ra.refused.length + rb.refused.length}; quiet after ${ms} ms (including three idle reads each)`,
    );
    // Each answers hello (hop 2), the other's ack (hop 1) and the other's next ack (hop 0); the hop-0 ack it may not answer.
    expect([ra.sent, rb.sent]).toEqual([3, 3]);
    expect([...ra.refused, ...rb.refused]).toEqual(["AGORA_ERR_HOP_EXHAUSTED", "AGORA_ERR_HOP_EXHAUSTED"]);
    const info = await a.infra.jsm.streams.info(STREAM);
    expect(info.state.messages).toBe(7); // hello + 6 acks, and nothing after
  }, 90_000);

  it("mcp - after a kill the identity's next send is refused, nothing it publishes directly reaches an agent; revive restores it", async () => {
    const spec: AgoraSpec = {
      channels: ["work"],
      agents: { responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] } },
      external: { alice: { read: ["work"], write: ["work"] }, operator: {} },
    };
    await using a = await startAgora(spec);
    const file = configFile(a, spec);
    const g = await a.startGateway();
    const host = await a.startHost();
    const events: HostEvent[] = [];
    collectEvents(host, events);
    const alice = await mcpAs("alice", file, a.nats.url);
    const first = await call(alice, "agora_send", { channel: "work", act: "request", body: { n: 1 } });
    await until(() => events.some((e) => e.type === "delivered" && e.id === first.value.sent.id), 10_000, "delivered");

    const killed = await g.app.inject({ method: "POST", url: "/api/kill", headers: op, payload: { agent: "alice" } });
    expect(killed.statusCode).toBe(200);
    const returned = performance.now();
    const refused = await call(alice, "agora_send", { channel: "work", act: "request", body: { n: 2 } });
    const refusedMs = performance.now() - returned;
    expect(refused.error).toMatch(/^AGORA_ERR_KILLED: .*\nThe operator has stopped this agent/s);
    console.log(
      `kill of an MCP identity: POST /api/kill took ${(killed.json() as { ms: number }).ms} ms; its next send was refused ${refusedMs.toFixed(1)} ms after the call returned (one MCP round trip)`,
    );
    // What it publishes straight on NATS, with its own key and login, reaches no agent.
    const direct = await (await a.client("alice")).send("work", "request", { n: 3 });
    await until(() => events.some((e) => e.type === "sender_killed" && e.id === direct.env.id), 10_000, "dropped");
    expect(events.some((e) => e.type === "delivered" && e.id === direct.env.id)).toBe(false);
    // Its card, and its own view, say killed.
    const agents = await call(alice, "agora_agents");
    expect(agents.value.find((x: { name: string }) => x.name === "alice")?.status).toBe("killed");
    expect((await call(alice, "agora_channels")).value.killed).toBe(true);

    // Revived from the CLI this time.
    const revived = await execFileP(process.execPath, [...CLI_ARGS, "revive", "alice", "--config", file], {
      cwd: ROOT,
      env: { ...process.env, NATS_URL: a.nats.url },
    });
    expect(revived.stdout).toMatch(
      /^revive alice: signed by operator, recorded in agora-control, acknowledged by host/,
    );
    let after: Called = {};
    await until(
      async () => (after = await call(alice, "agora_send", { channel: "work", act: "request", body: { n: 4 } })).value,
      5000,
      "sends accepted again",
    );
    await until(() => events.some((e) => e.type === "delivered" && e.id === after.value.sent.id), 10_000, "delivered");
    // The kill and the revive of alice are facts (the gateway's and the CLI's, both signed by the operator).
    await a.startRecorder();
    await a.settleFacts();
    const facts = readFacts(a.config.factsDir);
    const controls = facts.filter((f) => (f.type === "killed" || f.type === "revived") && f.fields.agent === "alice");
    expect(controls.map((f) => f.type)).toEqual(["killed", "revived"]);
    expect(facts.filter((f) => f.type === "sender-killed").map((f) => f.fields["envelope-id"])).toEqual([
      direct.env.id,
    ]);
  }, 90_000);

  it("mcp - the command says what is missing: --as, the identity, its key", () => {
    const run = (args: string[]) =>
      spawnSync(process.execPath, [...CLI_ARGS, "mcp", ...args], { cwd: ROOT, encoding: "utf8" });
    const help = run(["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/claude mcp add agora -- agora mcp --as <name>/);
    expect(run([]).stderr).toMatch(/AGORA_ERR_USAGE: mcp needs --as <name>/);
    const dir = mkdtempSync(join(tmpdir(), "agora-mcp-"));
    try {
      const file = join(dir, "agora.json");
      writeFileSync(
        file,
        JSON.stringify({ data: join(dir, "data"), channels: { work: null }, external: { ghost: { read: ["work"] } } }),
      );
      const nobody = run(["--as", "nobody", "--config", file]);
      expect([nobody.status, nobody.stderr]).toEqual([
        1,
        expect.stringMatching(/^AGORA_ERR_NOT_GRANTED: nobody is not/),
      ]);
      const ghost = run(["--as", "ghost", "--config", file]);
      expect([ghost.status, ghost.stderr]).toEqual([
        1,
        expect.stringMatching(/^AGORA_ERR_KEY_MISSING: no key for ghost .*agora keys gen ghost/),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
