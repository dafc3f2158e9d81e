// FakeGitHub: a local GitHub-API-compatible server for the bridge's tests. It
// records the REST calls it gets, can fail on purpose, and sends real signed
// webhooks to the bridge — including for the comments the bridge itself posts.
import { randomUUID } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import { signWebhook } from "../../gateway/github/webhook.js";

export interface RecordedCall {
  method: string;
  path: string;
  body: unknown;
  auth?: string;
  at: number;
}

export interface Failure {
  match: (method: string, path: string) => boolean;
  status: number;
  headers?: Record<string, string>;
  /** How many times to fail. */
  times: number;
}

export interface Comment {
  id: number;
  issue: number;
  body: string;
  user: { login: string };
}

export class FakeGitHub {
  readonly calls: RecordedCall[] = [];
  readonly comments: Comment[] = [];
  readonly labels: { issue: number; labels: string[] }[] = [];
  readonly failures: Failure[] = [];
  readonly webhookResults: { event: string; status: number; body: Record<string, unknown> }[] = [];
  url = "";
  /** Where webhooks go (the bridge's /github/webhook). */
  webhookUrl = "";
  private nextId = 1000;
  private readonly app: FastifyInstance;

  constructor(
    readonly repo: string,
    readonly token: string,
    readonly secret: string,
    readonly botLogin = "agora-bot",
  ) {
    this.app = Fastify({ logger: false });
    this.app.addHook("onRequest", async (req, reply) => {
      this.calls.push({
        method: req.method,
        path: req.url,
        body: undefined,
        auth: req.headers.authorization,
        at: Date.now(),
      });
      if (
        req.headers.authorization !== `token ${this.token}` &&
        req.headers.authorization !== `bearer ${this.token}` &&
        req.headers.authorization !== `Bearer ${this.token}`
      ) {
        return reply.code(401).send({ message: "Bad credentials" });
      }
      const f = this.failures.find((x) => x.times > 0 && x.match(req.method, req.url));
      if (f) {
        f.times--;
        return reply
          .code(f.status)
          .headers(f.headers ?? {})
          .send({ message: `injected ${f.status}` });
      }
    });
    this.app.addHook("preHandler", async (req) => {
      this.calls.at(-1)!.body = req.body;
    });
    this.app.get("/user", async () => ({ login: this.botLogin, id: 1 }));
    this.app.post<{ Params: { owner: string; repo: string; n: string }; Body: { body: string } }>(
      "/repos/:owner/:repo/issues/:n/comments",
      async (req, reply) => {
        const comment: Comment = {
          id: this.nextId++,
          issue: Number(req.params.n),
          body: req.body.body,
          user: { login: this.botLogin },
        };
        this.comments.push(comment);
        // Like GitHub: the bot's own comment triggers an issue_comment webhook too.
        setTimeout(() => void this.deliverComment(comment).catch(() => {}), 5);
        return reply.code(201).send({
          ...comment,
          html_url: `https://github.example/${this.repo}/issues/${comment.issue}#issuecomment-${comment.id}`,
        });
      },
    );
    this.app.post<{ Params: { n: string }; Body: { labels: string[] } }>(
      "/repos/:owner/:repo/issues/:n/labels",
      async (req) => {
        this.labels.push({ issue: Number(req.params.n), labels: req.body.labels });
        return req.body.labels.map((name) => ({ name }));
      },
    );
  }

  async start(): Promise<string> {
    this.url = await this.app.listen({ host: "127.0.0.1", port: 0 });
    return this.url;
  }

  /** POST a webhook the way GitHub does; `sign: false` or a wrong secret forges it. */
  async send(
    event: string,
    payload: unknown,
    options: { delivery?: string; secret?: string; sign?: boolean } = {},
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const raw = JSON.stringify(payload);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": options.delivery ?? randomUUID(),
      "user-agent": "GitHub-Hookshot/fake",
    };
    if (options.sign !== false) headers["x-hub-signature-256"] = signWebhook(raw, options.secret ?? this.secret);
    const res = await fetch(this.webhookUrl, { method: "POST", headers, body: raw });
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    this.webhookResults.push({ event, status: res.status, body });
    return { status: res.status, body };
  }

  private issuePayload(n: number, title: string, text: string, author: string) {
    return {
      number: n,
      title,
      body: text,
      user: { login: author },
      html_url: `https://github.example/${this.repo}/issues/${n}`,
      labels: [],
    };
  }

  openIssue(n: number, title: string, text: string, author = "alice", delivery?: string) {
    return this.send(
      "issues",
      {
        action: "opened",
        issue: this.issuePayload(n, title, text, author),
        repository: { full_name: this.repo },
        sender: { login: author },
      },
      { delivery },
    );
  }

  comment(n: number, text: string, author = "alice") {
    const comment: Comment = { id: this.nextId++, issue: n, body: text, user: { login: author } };
    this.comments.push(comment);
    return this.deliverComment(comment);
  }

  private deliverComment(c: Comment) {
    return this.send("issue_comment", {
      action: "created",
      issue: this.issuePayload(c.issue, `issue ${c.issue}`, "", "alice"),
      comment: {
        id: c.id,
        body: c.body,
        user: c.user,
        html_url: `https://github.example/${this.repo}/issues/${c.issue}#issuecomment-${c.id}`,
      },
      repository: { full_name: this.repo },
      sender: c.user,
    });
  }

  botComments(): Comment[] {
    return this.comments.filter((c) => c.user.login === this.botLogin);
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}
