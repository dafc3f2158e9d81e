// The GitHub-issue bridge against a local GitHub-compatible server that records
// REST calls and sends real signed webhooks back. No network.
import { afterEach, describe, expect, it } from "vitest";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { HostEvent } from "../../protocol/events.js";
import type { GithubBridge } from "../../gateway/github/bridge.js";
import { retryDelay } from "../../gateway/github/github-client.js";
import { mapWebhook, verifyWebhookSignature, signWebhook } from "../../gateway/github/webhook.js";
import { readFacts, startAgora, until, type TestAgora } from "../helpers/agora.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { readCards } from "../../transport/presence.js";
import { publicKeyObject } from "../../trust/signing.js";
import { agentWasm, fixtureWasm } from "../helpers/paths.js";

const REPO = "acme/widgets";
const CHANNEL = "gh-acme-widgets";
const TOKEN = "ghp_test_token_never_logged_0123456789";
const SECRET = "webhook-secret-for-tests";

interface Rig {
  a: TestAgora;
  gh: FakeGitHub;
  bridge: GithubBridge;
  events: HostEvent[];
  logs: string[];
}

let rig: Rig | undefined;

afterEach(async () => {
  await rig?.bridge.close();
  await rig?.gh.close();
  await rig?.a.close();
  rig = undefined;
});

async function start(
  agents: Record<string, { component: string; read?: string[]; write?: string[] }>,
  retry = { baseMs: 50, maxMs: 3000 },
): Promise<Rig> {
  const gh = new FakeGitHub(REPO, TOKEN, SECRET);
  const apiUrl = await gh.start();
  const a = await startAgora({
    channels: [CHANNEL],
    agents,
    external: { "github-bridge": { read: [CHANNEL], write: [CHANNEL] }, operator: {} },
    github: { apiUrl, repos: { [REPO]: { decisionLabel: "agreed" } } },
  });
  await a.startRecorder();
  const host = await a.startHost();
  const events: HostEvent[] = [];
  void (async () => {
    for await (const e of host.events.subscribe()) events.push(e);
  })();
  const logs: string[] = [];
  const bridge = await a.startBridge({ token: TOKEN, secret: SECRET, retry, log: (l) => logs.push(l) });
  const url = await (await a.startGateway({ bridge })).listen({ port: 0 });
  gh.webhookUrl = `${url}/github/webhook`;
  rig = { a, gh, bridge, events, logs };
  return rig;
}

describe("github bridge - units", () => {
  it("github - webhook signatures are HMAC-SHA256 over the raw body", () => {
    const raw = Buffer.from('{"a":1}');
    expect(verifyWebhookSignature(raw, signWebhook(raw, "s"), "s")).toBe(true);
    expect(verifyWebhookSignature(raw, signWebhook(raw, "t"), "s")).toBe(false);
    expect(verifyWebhookSignature(raw, undefined, "s")).toBe(false);
    expect(verifyWebhookSignature(raw, "sha256=zz", "s")).toBe(false);
    expect(verifyWebhookSignature(Buffer.from('{"a":2}'), signWebhook(raw, "s"), "s")).toBe(false);
  });

  it("github - events map to acts; own comments are not ingested", () => {
    const base = { repository: { full_name: REPO }, issue: { number: 3, title: "t" } };
    const m = (event: string, p: object, bot?: string) => mapWebhook(event, { ...base, ...p } as never, bot);
    expect(m("issues", { action: "opened" })).toMatchObject({ kind: "act", act: "request", opening: true });
    for (const action of ["edited", "closed", "labeled"])
      expect(m("issues", { action })).toMatchObject({ kind: "act", act: "inform" });
    expect(m("issues", { action: "deleted" }).kind).toBe("ignored");
    for (const [text, act] of [
      ["/propose ship it", "propose"],
      ["/agree", "agree"],
      ["/REFUSE no", "refuse"],
      ["/cancel", "cancel"],
      ["plain words", "inform"],
      ["/proposal", "inform"],
    ]) {
      const r = m("issue_comment", { action: "created", comment: { body: text, user: { login: "bob" } } });
      expect(r, text).toMatchObject({ kind: "act", act });
    }
    expect(
      m("issue_comment", { action: "created", comment: { body: "/propose x", user: { login: "bob" } } }),
    ).toMatchObject({ body: { text: "x" } });
    expect(
      m("issue_comment", { action: "created", comment: { body: "hi", user: { login: "agora-bot" } } }, "agora-bot")
        .kind,
    ).toBe("ignored");
    expect(
      m("issue_comment", {
        action: "created",
        comment: { body: "x\n<!-- agora-bridge:v1 id=1 -->", user: { login: "someone" } },
      }).kind,
    ).toBe("ignored");
    expect(m("push", {}).kind).toBe("ignored");
    // The decision label the bridge sets comes back as issues.labeled from the bot: not ingested.
    expect(
      m("issues", { action: "labeled", sender: { login: "agora-bot" }, label: { name: "agreed" } }, "agora-bot").kind,
    ).toBe("ignored");
    expect(
      m("issues", { action: "opened", issue: { number: 3, title: "t", body: "x".repeat(100_000) } }),
    ).toMatchObject({ kind: "act" });
    const long = m("issues", {
      action: "opened",
      issue: { number: 3, title: "t", body: "x".repeat(100_000) },
    }) as unknown as { body: { text: string } };
    expect(long.body.text.length).toBeLessThan(17_000);
  });

  it("github - 429 and 5xx are retried honouring Retry-After; other 4xx are not", () => {
    const o = { attempts: 5, baseMs: 500, maxMs: 30_000 };
    expect(retryDelay(429, { "retry-after": "2" }, 0, o)).toBe(2000);
    expect(retryDelay(503, {}, 2, o)).toBe(2000);
    expect(retryDelay(502, { "retry-after": "999" }, 0, o)).toBe(30_000);
    expect(retryDelay(404, {}, 0, o)).toBeUndefined();
    expect(retryDelay(422, { "retry-after": "1" }, 0, o)).toBeUndefined();
  });
});

describe("github bridge", () => {
  it("github - an opened issue reaches the channel as a signed request; the agent's agree comes back as a comment with the label", async () => {
    const { a, gh, bridge, events } = await start({
      responder: { component: agentWasm("responder"), read: [CHANNEL], write: [CHANNEL] },
    });
    const r = await gh.openIssue(7, "Ship 1.0?", "Can we ship?");
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ act: "request", channel: CHANNEL });
    await until(() => gh.botComments().length === 1 && gh.labels.length === 1, 10_000, "comment and label");
    const delivered = events.find((e): e is Extract<HostEvent, { type: "delivered" }> => e.type === "delivered")!;
    expect(delivered).toMatchObject({ agent: "responder", sender: "github-bridge", act: "request", hop: 3 });
    const comment = gh.botComments()[0]!;
    expect(comment.issue).toBe(7);
    expect(comment.body).toContain("**responder** · `agree` · hop 2");
    expect(comment.body).toMatch(/\[FACT-\d{9}\]\(http:\/\/127\.0\.0\.1:8080\/api\/facts\/FACT-\d{9}\)/);
    expect(comment.body).toContain("<!-- agora-bridge:v1 id=");
    expect(gh.labels[0]).toEqual({ issue: 7, labels: ["agreed"] });
    // GitHub sent the bot's own comment back: it was not ingested.
    await until(() => gh.webhookResults.length === 2, 5000, "echo webhook");
    expect(gh.webhookResults[1]!.body).toMatchObject({ ignored: "comment by the bridge itself" });
    await a.settleFacts();
    const facts = readFacts(a.config.factsDir);
    const request = facts.find((f) => f.type === "speech-act" && f.fields.sender === "github-bridge")!;
    expect(request.fields).toMatchObject({ act: "request", conv: "issue-7", channel: CHANNEL });
    const agree = facts.find((f) => f.type === "speech-act" && f.fields.act === "agree")!;
    expect(comment.body).toContain(agree.id); // the link names the agree's own fact
    // The fake GitHub holds the label as the request arrives; the bridge counts it once the answer is back.
    await until(() => bridge.counters.labels === 1, 5000, "the label's answer");
    expect(bridge.counters).toMatchObject({ inbound: 1, comments: 1, labels: 1 });
    // The token never reaches facts or logs; it did reach GitHub.
    expect(gh.calls.every((c) => c.auth?.endsWith(TOKEN))).toBe(true);
    for (const f of readdirSync(a.config.factsDir))
      expect(readFileSync(join(a.config.factsDir, f), "utf8")).not.toContain(TOKEN);
    expect(rig!.logs.join("\n")).not.toContain(TOKEN);
  });

  it("github - comments become acts in the issue's conversation; redeliveries do nothing twice", async () => {
    const { a, gh, events } = await start({
      voter: { component: agentWasm("voter"), read: [CHANNEL], write: [CHANNEL] },
    });
    const opened = await gh.openIssue(9, "Budget", "How much?", "alice", "11111111-2222-3333-4444-555555555555");
    const again = await gh.openIssue(9, "Budget", "How much?", "alice", "11111111-2222-3333-4444-555555555555");
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ duplicate: true });
    const propose = await gh.comment(9, '/propose {"cost": 50}', "bob");
    expect(propose.body).toMatchObject({ act: "propose" });
    const inform = await gh.comment(9, "just a remark", "carol");
    expect(inform.body).toMatchObject({ act: "inform" });
    await until(() => events.filter((e) => e.type === "delivered").length >= 3, 10_000, "deliveries");
    await a.settleFacts();
    const acts = readFacts(a.config.factsDir).filter(
      (f) => f.type === "speech-act" && f.fields.sender === "github-bridge",
    );
    expect(acts.map((f) => f.fields.act)).toEqual(["request", "propose", "inform"]);
    expect(new Set(acts.map((f) => f.fields.conv))).toEqual(new Set(["issue-9"]));
    expect(acts[1]!.fields.re).toBe(opened.body.id); // comments answer the issue's opening act
    expect(events.filter((e) => e.type === "delivered" && e.id === opened.body.id)).toHaveLength(1);
  });

  it("github - forged webhooks are refused with 401 and a fact", async () => {
    const { a, gh, bridge } = await start({});
    expect((await gh.openIssue(1, "x", "y")).status).toBe(202);
    const forged = await gh.send(
      "issues",
      { action: "opened", issue: { number: 2 }, repository: { full_name: REPO } },
      { secret: "wrong" },
    );
    const unsigned = await gh.send(
      "issues",
      { action: "opened", issue: { number: 3 }, repository: { full_name: REPO } },
      { sign: false },
    );
    expect(forged.status).toBe(401);
    expect(unsigned.status).toBe(401);
    expect(forged.body.code).toBe("AGORA_ERR_WEBHOOK_SIGNATURE");
    const other = await gh.send("issues", {
      action: "opened",
      issue: { number: 4 },
      repository: { full_name: "evil/repo" },
    });
    // Signed but for a repository this bridge does not serve: 2xx "ignored" (issue 13), counted, no fact.
    expect(other.status).toBe(202);
    expect(other.body.ignored).toMatch(/evil\/repo is not bridged/);
    expect(bridge.counters.rejected).toBe(2);
    await a.settleFacts();
    const rejected = readFacts(a.config.factsDir).filter((f) => f.type === "webhook-rejected");
    expect(rejected.map((f) => JSON.parse(String(f.fields.event)).code)).toEqual([
      "AGORA_ERR_WEBHOOK_SIGNATURE",
      "AGORA_ERR_WEBHOOK_SIGNATURE",
    ]);
    expect(readFacts(a.config.factsDir).filter((f) => f.type === "speech-act")).toHaveLength(1);
  });

  it("github - 429/5xx are retried with backoff honouring Retry-After; a 404 is recorded and not retried", async () => {
    const { a, gh, bridge } = await start({
      responder: { component: agentWasm("responder"), read: [CHANNEL], write: [CHANNEL] },
    });
    const comments = (m: string, p: string) => m === "POST" && p.includes("/issues/5/comments");
    gh.failures.push(
      { match: comments, status: 429, headers: { "retry-after": "1" }, times: 1 },
      { match: comments, status: 502, times: 2 },
    );
    gh.failures.push({ match: (m, p) => m === "POST" && p.includes("/issues/6/comments"), status: 404, times: 10 });
    await gh.openIssue(5, "flaky", "retry me");
    await until(() => gh.botComments().some((c) => c.issue === 5), 15_000, "comment after retries");
    const attempts = gh.calls.filter((c) => comments(c.method, c.path));
    expect(attempts).toHaveLength(4); // 429, 502, 502, 201
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(950); // Retry-After: 1
    await gh.openIssue(6, "gone", "404");
    await until(() => bridge.counters.failed === 1, 10_000, "failure");
    expect(gh.calls.filter((c) => c.method === "POST" && c.path.includes("/issues/6/comments"))).toHaveLength(1);
    await a.settleFacts();
    const failed = readFacts(a.config.factsDir).filter((f) => f.type === "github-failed");
    expect(failed).toHaveLength(1);
    expect(JSON.parse(String(failed[0]!.fields.event))).toMatchObject({
      status: 404,
      issue: 6,
      code: "AGORA_ERR_GITHUB_API",
    });
  });

  it("github - the Hermes two-bot ack-loop converges through GitHub with a bounded number of comments", async () => {
    const { a, gh, bridge, events } = await start({
      "ack-a": { component: fixtureWasm("acker"), read: [CHANNEL], write: [CHANNEL] },
      "ack-b": { component: fixtureWasm("acker"), read: [CHANNEL], write: [CHANNEL] },
    });
    await gh.openIssue(42, "Deploy?", "Please deploy.");
    // Converged: both hop-0 emissions dropped, and nothing new for a while.
    await until(() => events.filter((e) => e.type === "hop_exhausted").length >= 2, 15_000, "hop budget");
    let last = -1;
    while (gh.calls.length + gh.webhookResults.length !== last) {
      last = gh.calls.length + gh.webhookResults.length;
      await new Promise((r) => setTimeout(r, 700));
    }
    const emitted = events.filter((e): e is Extract<HostEvent, { type: "emitted" }> => e.type === "emitted");
    const byHop = [2, 1, 0].map((h) => emitted.filter((e) => e.hop === h).length);
    console.log(
      `hermes ack-loop via GitHub: ${emitted.length} agent acts (hop 2/1/0: ${byHop.join("/")}), ${gh.botComments().length} comments posted, ` +
        `${bridge.counters.hopZeroSkipped} hop-0 acts not forwarded, ${gh.webhookResults.filter((w) => w.body.ignored).length} own comments not re-ingested`,
    );
    expect(byHop).toEqual([2, 2, 2]);
    expect(gh.botComments()).toHaveLength(4); // hop 2 and hop 1 only
    expect(gh.botComments().every((c) => c.issue === 42 && c.body.includes("Ack."))).toBe(true);
    expect(bridge.counters.hopZeroSkipped).toBe(2);
    expect(bridge.counters.inbound).toBe(1); // only the human's issue came in
    await a.settleFacts();
    expect(readFacts(a.config.factsDir).filter((f) => f.type === "speech-act")).toHaveLength(7);
  });

  it("github - all 726 example payloads GitHub publishes (@octokit/webhooks-examples): no 5xx or 422, every issue and comment bridged once", async () => {
    const { gh, bridge, a } = await start({});
    const base = join(dirname(createRequire(import.meta.url).resolve("@octokit/webhooks-examples")), "..");
    const variants = readdirSync(base).filter((d) => existsSync(join(base, d, "index.json")));
    const bridged = new Map<string, string>(); // body → act
    const statuses = new Map<number, number>();
    let posted = 0;
    for (const variant of variants) {
      const events = JSON.parse(readFileSync(join(base, variant, "index.json"), "utf8")) as {
        name: string;
        examples: Record<string, unknown>[];
      }[];
      for (const { name, examples } of events) {
        for (const example of examples) {
          // Every event of a repository comes from the bridged one; the rest (organization, installation…) stay as they are.
          const repository = example.repository as Record<string, unknown> | undefined;
          const payload = repository ? { ...example, repository: { ...repository, full_name: REPO } } : example;
          const res = await gh.send(name, payload);
          posted++;
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          expect(res.status, `${variant} ${name}.${String(example.action)}: ${JSON.stringify(res.body)}`).toBeLessThan(
            422,
          );
          const mapped = mapWebhook(name, payload as Parameters<typeof mapWebhook>[1], undefined);
          const key = JSON.stringify(payload);
          if (mapped.kind === "act" && !bridged.has(key)) {
            bridged.set(key, mapped.act);
            expect(res.body.act, `${name}.${String(example.action)}`).toBe(mapped.act);
          }
        }
      }
    }
    console.log(
      `github examples: ${posted} payloads from ${variants.length} GitHub versions; answers ${JSON.stringify(Object.fromEntries(statuses))}; ${bridged.size} distinct issue/comment events bridged`,
    );
    expect(posted).toBe(726);
    expect(bridged.size).toBeGreaterThanOrEqual(15); // opened, edited, closed, labeled issues and created comments
    expect(bridge.counters.inbound).toBe(bridged.size);
    await a.settleFacts();
    const acts = readFacts(a.config.factsDir).filter((f) => f.type === "speech-act");
    expect(acts).toHaveLength(bridged.size);
    // The bridge is on agora too: its signed card, kind bridge.
    const { agents } = await readCards(a.infra.cards, (n) =>
      a.keys.has(n) ? publicKeyObject(a.keys.load(n).publicKey) : undefined,
    );
    expect(agents.find((p) => p.card.name === "github-bridge")).toMatchObject({
      status: "idle",
      card: { agora: { kind: "bridge", reads: [CHANNEL], writes: [CHANNEL] } },
    });
  }, 120_000);
});
