// The bridge as an attacker (and a bad network) meets it: replayed webhooks,
// malformed but signed payloads, oversized bodies, a refused API connection,
// and one issue's retries that must not hold back another's comments.
import { afterEach, describe, expect, it } from "vitest";
import { createServer } from "node:net";
import { signWebhook } from "../../gateway/github/webhook.js";
import { readFacts, startAgora, until, type TestAgora } from "../helpers/agora.js";
import { FakeGitHub } from "../helpers/fake-github.js";
import { agentWasm } from "../helpers/paths.js";

const REPO = "acme/widgets";
const CHANNEL = "gh-acme-widgets";
const TOKEN = "ghp_test_token_never_logged_0123456789";
const SECRET = "webhook-secret-for-tests";

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function start(options: { responder?: boolean; apiUrl?: string } = {}) {
  const gh = new FakeGitHub(REPO, TOKEN, SECRET);
  const fakeUrl = await gh.start();
  const a: TestAgora = await startAgora({
    channels: [CHANNEL],
    agents: options.responder
      ? { responder: { component: agentWasm("responder"), read: [CHANNEL], write: [CHANNEL] } }
      : {},
    external: { "github-bridge": { read: [CHANNEL], write: [CHANNEL] } },
    github: {
      apiUrl: options.apiUrl ?? fakeUrl,
      botLogin: "agora-bot",
      repos: { [REPO]: { decisionLabel: "agreed" } },
    },
  });
  await a.startRecorder();
  await a.startHost();
  const bridge = await a.startBridge({ token: TOKEN, secret: SECRET, retry: { baseMs: 50, maxMs: 3000 } });
  const url = await (await a.startGateway({ bridge })).listen({ port: 0 });
  gh.webhookUrl = `${url}/github/webhook`;
  cleanup = async () => {
    await bridge.close();
    await gh.close();
    await a.close();
  };
  return { a, gh, bridge, url };
}

const issue = (n: number, extra: Record<string, unknown> = {}) => ({
  action: "opened",
  issue: { number: n, title: `issue ${n}`, body: "text", user: { login: "alice" }, ...extra },
  repository: { full_name: REPO },
  sender: { login: "alice" },
});
const speechActs = (a: TestAgora) => readFacts(a.config.factsDir).filter((f) => f.type === "speech-act");

describe("github bridge - hardening", () => {
  it("github - a captured body and signature replayed under a fresh delivery id creates nothing new", async () => {
    const { a, gh } = await start();
    const payload = issue(1);
    expect((await gh.send("issues", payload, { delivery: "d-1" })).status).toBe(202);
    for (const delivery of ["d-2", "d-3", "d-4"]) {
      const replay = await gh.send("issues", payload, { delivery });
      expect(replay.status).toBe(200);
      expect(replay.body).toMatchObject({ duplicate: true, replayed: true });
    }
    await a.settleFacts();
    expect(speechActs(a)).toHaveLength(1);
  });

  it("github - malformed but signed payloads get a coded 422, never a 500", async () => {
    const { a, gh, url } = await start();
    const cases: [string, unknown][] = [
      ["issues", issue(2, { title: { not: "text" } })],
      [
        "issue_comment",
        {
          action: "created",
          issue: { number: 2, title: "t" },
          comment: { body: ["an", "array"] },
          repository: { full_name: REPO },
        },
      ],
      ["issues", { action: "opened", issue: { number: "two" }, repository: { full_name: REPO } }],
      ["issues", { action: "opened", issue: [], repository: { full_name: REPO } }],
    ];
    for (const [event, payload] of cases) {
      const res = await gh.send(event, payload);
      expect(res.status, JSON.stringify(payload).slice(0, 80)).toBe(422);
      expect(res.body).toMatchObject({ code: "AGORA_ERR_WEBHOOK_PAYLOAD" });
    }
    // 5,000 levels deep (written as text: JSON.stringify itself could not).
    const deep = `{"action":"opened","issue":{"number":2},"repository":{"full_name":"${REPO}"},"x":${"[".repeat(5000)}${"]".repeat(5000)}}`;
    const res = await fetch(`${url}/github/webhook`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "issues",
        "x-github-delivery": "deep-1",
        "x-hub-signature-256": signWebhook(deep, SECRET),
      },
      body: deep,
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ code: "AGORA_ERR_WEBHOOK_PAYLOAD" });
    await a.settleFacts();
    expect(speechActs(a)).toHaveLength(0);
  });

  it("github - bodies over github.maxBodyBytes are refused (413) before the HMAC; unsigned ones before the body is read", async () => {
    const { url } = await start();
    const big = JSON.stringify({ ...issue(3), pad: "x".repeat(2 * 1024 * 1024) });
    const headers = { "content-type": "application/json", "x-github-event": "issues", "x-github-delivery": "big-1" };
    const signed = await fetch(`${url}/github/webhook`, {
      method: "POST",
      headers: { ...headers, "x-hub-signature-256": signWebhook(big, SECRET) },
      body: big,
    });
    expect(signed.status).toBe(413);
    const unsigned = await fetch(`${url}/github/webhook`, { method: "POST", headers, body: big });
    expect(unsigned.status).toBe(401);
    expect(await unsigned.json()).toMatchObject({ code: "AGORA_ERR_WEBHOOK_SIGNATURE" });
  });

  it("github - a refused connection to the API is recorded as no answer (status 0), not as a 500", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const { a, gh, bridge } = await start({ responder: true, apiUrl: `http://127.0.0.1:${port}` });
    await gh.openIssue(4, "unreachable", "api down");
    await until(() => bridge.counters.failed === 1, 20_000, "the failure to be recorded");
    // Counted when it fails; its event is published right after: wait for its fact, not for one settle.
    const failedFacts = async () =>
      (await a.settleFacts(), readFacts(a.config.factsDir)).filter((f) => f.type === "github-failed");
    await until(async () => (await failedFacts()).length > 0, 10_000, "the failure's fact");
    const failed = await failedFacts();
    expect(failed).toHaveLength(1);
    expect(JSON.parse(String(failed[0]!.fields.event))).toMatchObject({ status: 0, issue: 4 });
  });

  it("github - one issue's retries do not hold back another issue's comment", async () => {
    const { gh } = await start({ responder: true });
    const slow = (m: string, p: string) => m === "POST" && p.includes("/issues/5/comments");
    gh.failures.push({ match: slow, status: 503, headers: { "retry-after": "2" }, times: 2 });
    await gh.openIssue(5, "slow", "retries");
    await until(() => gh.calls.some((c) => slow(c.method, c.path)), 10_000, "the first attempt on issue 5");
    const started = Date.now();
    await gh.openIssue(6, "fast", "no retries");
    await until(() => gh.botComments().some((c) => c.issue === 6), 10_000, "issue 6's comment");
    const fastMs = Date.now() - started;
    await until(() => gh.botComments().some((c) => c.issue === 5), 15_000, "issue 5's comment after its retries");
    console.log(
      `github: issue 6's comment posted ${fastMs} ms after it was opened, while issue 5 waited out two Retry-After: 2`,
    );
    expect(gh.botComments().findIndex((c) => c.issue === 6)).toBeLessThan(
      gh.botComments().findIndex((c) => c.issue === 5),
    );
  });

  it("github - forged webhooks are rate limited per source: ten facts a minute, then 429 and one fact that counts the rest", async () => {
    const { a, gh, bridge } = await start();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await gh.send("issues", issue(100 + i), { secret: "wrong" })).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual(Array(20).fill(429));
    // Past the limit even a correctly signed webhook from that address waits for the minute to pass.
    expect((await gh.openIssue(7, "late", "signed")).status).toBe(429);
    await bridge.close(); // ends the window: the summary fact is written
    await a.settleFacts();
    const rejected = readFacts(a.config.factsDir)
      .filter((f) => f.type === "webhook-rejected")
      .map((f) => JSON.parse(String(f.fields.event)) as { code: string; count?: number });
    console.log(
      `github: 30 forged webhooks + 1 signed from one address → ${rejected.length} facts (${rejected
        .filter((r) => r.count)
        .map((r) => `one counting ${r.count}`)
        .join(", ")})`,
    );
    expect(rejected).toHaveLength(11);
    expect(rejected.filter((r) => r.code === "AGORA_ERR_WEBHOOK_SIGNATURE")).toHaveLength(10);
    expect(rejected.at(-1)).toMatchObject({ code: "AGORA_ERR_RATE_LIMITED", count: 21 }); // 20 forged + the signed one
  });

  it("github - signed events of other repositories or of none (organization, installation) are answered 2xx and ignored", async () => {
    const { a, gh, bridge } = await start();
    const cases: [string, unknown][] = [
      ["issues", { ...issue(8), repository: { full_name: "someone/else" } }],
      ["organization", { action: "member_added", organization: { login: "acme" }, membership: {} }],
      ["installation", { action: "created", installation: { id: 1 } }],
      ["team", { action: "created", team: { name: "t" }, organization: { login: "acme" } }],
    ];
    for (const [event, payload] of cases) {
      const res = await gh.send(event, payload);
      expect(res.status, event).toBe(202);
      expect(res.body.ignored, event).toBeTypeOf("string");
    }
    expect(bridge.counters.ignored).toBe(4);
    expect(bridge.counters.rejected).toBe(0);
    await a.settleFacts();
    expect(readFacts(a.config.factsDir)).toHaveLength(0);
  });
});
