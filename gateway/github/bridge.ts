// GithubBridge: the external agent `github-bridge`. Issues and comments come in
// as signed speech acts on the repository's channel; acts that answer them go
// back out as issue comments. Loop-proof: own comments are never re-ingested,
// nothing at hop 0 is forwarded, and the hop budget bounds any storm.
import { AckPolicy, DeliverPolicy, type JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { AgoraClient } from "../../sdk/client.js";
import { ControlFollower } from "../../transport/control-plane.js";
import { isKilled } from "../../trust/control.js";
import { SenderStanding } from "../../trust/budget.js";
import type { AgoraConfig, GithubConfig, GithubRepoConfig } from "../../config/config.js";
import type { Envelope } from "../../protocol/envelope.js";
import { AgoraError, type ErrorCode } from "../../protocol/errors.js";
import type { HostEvent } from "../../protocol/events.js";
import { openSession } from "../../transport/session.js";
import { eventMsgId } from "../../protocol/ids.js";
import type { KeyRegistry } from "../../trust/key-registry.js";
import type { Identity } from "../../trust/key-store.js";
import { startHeartbeat } from "../../transport/presence.js";
import { bridgeConsumerName, channelSubject } from "../../protocol/subjects.js";
import { ensureDurableConsumer } from "../../transport/consumer.js";
import type { Infrastructure } from "../../transport/infrastructure.js";
import { publishEvent } from "../../transport/publisher.js";
import { pullLoop } from "../../transport/pull-loop.js";
import type { Verifier } from "../../trust/verifier.js";
import { createHash } from "node:crypto";
import { factId } from "../../facts/fact.js";
import { bodyProblem } from "../../protocol/envelope.js";
import { GitHubApiError, GitHubClient, type RetryOptions } from "./github-client.js";
import { BRIDGE_MARKER, deliveryId, mapWebhook, verifyWebhookSignature } from "./webhook.js";
import { STREAM } from "../../protocol/subjects.js";

/** One request header (the first, if repeated). */
function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Refusals per source and minute recorded one fact each; the rest are counted into one. */
const MAX_REJECTIONS_RECORDED = 10;
const REJECTION_WINDOW_MS = 60_000;
/** Comments posted at once (across issues); beyond this the pull loop waits for one to finish. */
const MAX_INFLIGHT_COMMENTS = 16;
/** Acts that are decisions: they can set the repository's decision label. */
export const DECISION_ACTS: ReadonlySet<string> = new Set(["agree", "confirm"]);

export interface BridgeOptions {
  config: AgoraConfig;
  nc: NatsConnection;
  /** Defaults to the env var named by github.tokenEnv. */
  token?: string;
  /** Defaults to the env var named by github.secretEnv. */
  secret?: string;
  retry?: RetryOptions;
  log?: (line: string) => void;
}

export interface WebhookResult {
  status: number;
  body: Record<string, unknown>;
}

/** Counters the tests and /metrics read. */
export interface BridgeCounters {
  inbound: number;
  duplicates: number;
  ignored: number;
  rejected: number;
  comments: number;
  labels: number;
  hopZeroSkipped: number;
  /** Acts not posted: their sender is killed or over its send budget. */
  refusedSenders: number;
  failed: number;
}

export class GithubBridge {
  readonly counters: BridgeCounters = {
    inbound: 0,
    duplicates: 0,
    ignored: 0,
    rejected: 0,
    comments: 0,
    labels: 0,
    hopZeroSkipped: 0,
    refusedSenders: 0,
    failed: 0,
  };
  readonly gh: GithubConfig;
  botLogin?: string;
  private readonly byRepo: Map<string, GithubRepoConfig>;
  private closing = false;
  /** The bridge's card (presence). */
  private presence?: { stop(): Promise<void> };
  /** The signed controls: a killed bridge bridges nothing; a killed sender's acts are not posted. */
  private controls?: ControlFollower;
  /** Killed senders and send budgets, as the hosts judge them. */
  private standing?: SenderStanding;
  private loops: Promise<void>[] = [];
  /** Refused webhooks per source in the current minute. */
  private readonly rejections = new Map<string, { since: number; count: number; suppressed: number }>();
  /** Comments being posted, and the last one of each issue (the next one waits for it). */
  private readonly inflight = new Set<Promise<void>>();
  private readonly chains = new Map<string, Promise<void>>();

  private constructor(
    private readonly options: BridgeOptions,
    private readonly infra: Infrastructure,
    private readonly kv: KV,
    private readonly identity: Identity,
    private readonly client: AgoraClient,
    private readonly github: GitHubClient,
    private readonly registry: KeyRegistry,
    private readonly verifier: Verifier,
    private readonly secret: string,
  ) {
    this.gh = options.config.github!;
    this.byRepo = new Map(this.gh.repos.map((r) => [r.repo.toLowerCase(), r]));
  }

  static async start(options: BridgeOptions): Promise<GithubBridge> {
    const { config, nc } = options;
    const gh = config.github;
    if (!gh)
      throw new AgoraError(
        "AGORA_ERR_CONFIG",
        "no github section in the config: add github.repos to bridge a repository",
      );
    const secret = options.secret ?? process.env[gh.secretEnv];
    const token = options.token ?? process.env[gh.tokenEnv];
    if (!secret)
      throw new AgoraError(
        "AGORA_ERR_CONFIG",
        `the webhook secret is not set: export ${gh.secretEnv}=<the secret configured on the GitHub webhook>`,
      );
    if (!token)
      throw new AgoraError(
        "AGORA_ERR_CONFIG",
        `the GitHub token is not set: export ${gh.tokenEnv}=<a token with issues read/write>`,
      );
    const { infra, identity, registry, verifier } = await openSession(config, nc, {
      identity: gh.identity,
      publish: true,
    });
    const kv = infra.github!; // opened because config.github is set
    const github = new GitHubClient({ baseUrl: gh.apiUrl, token, retry: options.retry });
    const bridge = new GithubBridge(
      options,
      infra,
      kv,
      identity,
      new AgoraClient(nc, identity),
      github,
      registry,
      verifier,
      secret,
    );
    bridge.botLogin =
      gh.botLogin ??
      (await github.login().catch((err) => {
        options.log?.(
          `github: cannot read the token's login (${(err as Error).message}); relying on the hidden marker alone`,
        );
        return undefined;
      }));
    bridge.controls = new ControlFollower(nc, infra.control, registry, config.controllers, undefined, () => {});
    await bridge.controls.start();
    bridge.standing = new SenderStanding(config, bridge.controls.state);
    await bridge.startOutbound();
    const grant = config.external.find((e) => e.name === gh.identity);
    bridge.presence = await startHeartbeat(
      infra.cards,
      identity,
      {
        kind: "bridge",
        description: `GitHub issues ↔ channels: ${gh.repos.map((r) => `${r.repo} ↔ ${r.channel}`).join(", ")}`,
        reads: grant?.read,
        writes: grant?.write,
      },
      config.limits.heartbeatMs,
    );
    return bridge;
  }

  /** Whether the operator has killed the bridge. */
  private killed(): boolean {
    return !!this.controls && isKilled(this.options.config, this.controls.state, this.identity.name);
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private async record(event: HostEvent, key: string): Promise<void> {
    await publishEvent(
      this.infra.publisher,
      this.identity,
      event,
      eventMsgId(this.identity.seed, event.type, this.identity.name, 0, key),
    ).catch((err) => this.log(`github: cannot record ${event.type}: ${String(err)}`));
  }

  /**
   * Refuse a webhook. The first MAX_REJECTIONS_RECORDED refusals per source and
   * minute are one fact each; past that the source gets 429 without one, and the
   * window ends with a single fact that counts them — forged webhooks cannot grow
   * the disk by a fact per request.
   */
  private async reject(
    source: string,
    status: number,
    code: ErrorCode,
    reason: string,
    delivery?: string,
  ): Promise<WebhookResult> {
    this.counters.rejected++;
    const now = Date.now();
    let w = this.rejections.get(source);
    if (w && now - w.since >= REJECTION_WINDOW_MS) {
      await this.flushRejections(source, w);
      w = undefined;
    }
    if (!w) {
      w = { since: now, count: 0, suppressed: 0 };
      this.rejections.set(source, w);
      if (this.rejections.size > 10_000) this.rejections.delete(this.rejections.keys().next().value!);
    }
    if (++w.count > MAX_REJECTIONS_RECORDED) {
      w.suppressed++;
      return {
        status: 429,
        body: {
          code: "AGORA_ERR_RATE_LIMITED",
          message: "too many refused webhooks from this address; try again in a minute",
        },
      };
    }
    await this.record(
      {
        type: "webhook_rejected",
        agent: this.identity.name,
        code,
        reason,
        source: source.slice(0, 64),
        ...(delivery ? { delivery: delivery.slice(0, 64) } : {}),
      },
      `${delivery ?? ""}:${now}:${Math.random()}`,
    );
    return { status, body: { code, message: reason } };
  }

  /** Whether `source` is over its refusals for this minute: then it is refused (and counted) before its body is read. */
  limited(source: string): boolean {
    const w = this.rejections.get(source);
    if (w === undefined || Date.now() - w.since >= REJECTION_WINDOW_MS || w.count < MAX_REJECTIONS_RECORDED)
      return false;
    this.counters.rejected++;
    w.count++;
    w.suppressed++;
    return true;
  }

  /** One fact for the refusals of a window that were not recorded one by one. */
  private async flushRejections(source: string, w: { since: number; suppressed: number }): Promise<void> {
    this.rejections.delete(source);
    if (w.suppressed === 0) return;
    await this.record(
      {
        type: "webhook_rejected",
        agent: this.identity.name,
        code: "AGORA_ERR_RATE_LIMITED",
        reason: `${w.suppressed} more webhooks refused from ${source.slice(0, 64)} within a minute (rate limited)`,
        source: source.slice(0, 64),
        count: w.suppressed,
      },
      `rate:${source}:${w.since}`,
    );
  }

  // --- inbound -------------------------------------------------------------------
  /** A webhook without a well-formed X-Hub-Signature-256, refused before its body is read. */
  refuseUnsigned(headers: Record<string, string | string[] | undefined>, source = "unknown"): Promise<WebhookResult> {
    const delivery = header(headers, "x-github-delivery");
    return this.reject(source, 401, "AGORA_ERR_WEBHOOK_SIGNATURE", "X-Hub-Signature-256 missing or wrong", delivery);
  }

  /** Handle one webhook delivery: `raw` is the exact body GitHub signed. A malformed one is a coded 4xx, never a 500. */
  async handleWebhook(
    raw: Buffer,
    headers: Record<string, string | string[] | undefined>,
    source = "unknown",
  ): Promise<WebhookResult> {
    try {
      return await this.webhook(raw, headers, source);
    } catch (err) {
      if (err instanceof AgoraError && err.code !== "AGORA_ERR_WEBHOOK_PAYLOAD") throw err; // NATS trouble: GitHub retries
      const reason =
        err instanceof AgoraError
          ? err.message
          : `payload does not have the shape of a GitHub event (${String((err as Error)?.message ?? err).slice(0, 200)})`;
      return this.reject(source, 422, "AGORA_ERR_WEBHOOK_PAYLOAD", reason, header(headers, "x-github-delivery"));
    }
  }

  private async webhook(
    raw: Buffer,
    headers: Record<string, string | string[] | undefined>,
    source: string,
  ): Promise<WebhookResult> {
    const h = (name: string) => header(headers, name);
    const delivery = h("x-github-delivery");
    if (!verifyWebhookSignature(raw, h("x-hub-signature-256"), this.secret)) {
      return this.reject(source, 401, "AGORA_ERR_WEBHOOK_SIGNATURE", "X-Hub-Signature-256 missing or wrong", delivery);
    }
    const event = h("x-github-event");
    if (event === "ping") return { status: 200, body: { pong: true } };
    // Killed by the operator: nothing is bridged in (GitHub shows the delivery failed; redeliver after the revive).
    if (this.killed())
      return this.reject(source, 503, "AGORA_ERR_KILLED", `${this.identity.name} is killed by the operator`, delivery);
    let payload: Parameters<typeof mapWebhook>[1];
    let id: string;
    try {
      payload = JSON.parse(raw.toString("utf8")) as Parameters<typeof mapWebhook>[1];
      id = deliveryId(delivery);
    } catch (err) {
      return this.reject(
        source,
        400,
        "AGORA_ERR_WEBHOOK_PAYLOAD",
        err instanceof AgoraError ? err.message : "body is not JSON",
        delivery,
      );
    }
    const problem = bodyProblem(payload);
    if (problem) throw new AgoraError("AGORA_ERR_WEBHOOK_PAYLOAD", problem.replace(/^body/, "payload"));
    const repo = this.byRepo.get(String(payload?.repository?.full_name ?? "").toLowerCase());
    if (!repo) {
      // Correctly signed, just not ours (another repository; an organization, installation or team event):
      // GitHub shows anything but 2xx as a failed delivery. Counted, not recorded.
      this.counters.ignored++;
      const name = payload?.repository?.full_name;
      return {
        status: 202,
        body: {
          ignored: name ? `repository ${String(name).slice(0, 100)} is not bridged` : "no repository in the event",
        },
      };
    }
    const inbound = mapWebhook(event, payload, this.botLogin);
    if (inbound.kind === "ignored") {
      this.counters.ignored++;
      return { status: 202, body: { ignored: inbound.why } };
    }
    if (await this.kv.get(`delivery.${id}`)) {
      this.counters.duplicates++;
      return { status: 200, body: { id, duplicate: true } };
    }
    // A captured body and signature replayed under a fresh delivery id: the bytes were bridged already.
    const digest = createHash("sha256").update(raw).digest("hex");
    const seen = await this.kv.get(`body.${digest}`);
    if (seen?.operation === "PUT") {
      this.counters.duplicates++;
      return { status: 200, body: { id: seen.string(), duplicate: true, replayed: true } };
    }
    const opening = await this.kv.get(`issue.${repo.channel}.${inbound.issue}`);
    // A comment answers the issue's opening act, below its hop as every answer must be (at hop 0 it answers nothing).
    const { hop } = this.options.config.limits;
    const re = !inbound.opening && opening?.operation === "PUT" && hop > 0 ? opening.string() : undefined;
    const { env, ack } = await this.client.send(repo.channel, inbound.act, inbound.body, {
      id,
      hop: re ? hop - 1 : hop,
      conv: `issue-${inbound.issue}`,
      re,
    });
    await this.kv.put(`env.${env.id}`, JSON.stringify({ repo: repo.repo, issue: inbound.issue }));
    if (inbound.opening) await this.kv.put(`issue.${repo.channel}.${inbound.issue}`, env.id);
    await this.kv.put(`delivery.${id}`, String(ack.seq));
    await this.kv.put(`body.${digest}`, id);
    this.counters.inbound++;
    if (ack.duplicate) this.counters.duplicates++;
    return {
      status: 202,
      body: { id: env.id, act: env.act, channel: env.channel, seq: ack.seq, duplicate: ack.duplicate },
    };
  }

  // --- outbound ------------------------------------------------------------------
  private async startOutbound(): Promise<void> {
    for (const repo of this.gh.repos) {
      const consumer = await ensureDurableConsumer(this.infra, STREAM, {
        durable_name: bridgeConsumerName(repo.channel),
        filter_subject: channelSubject(repo.channel),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        ack_wait: nanos(120_000),
      });
      this.loops.push(
        pullLoop(consumer, (m) => this.dispatch(m, repo).catch((err) => this.log(`github: ${String(err)}`)), {
          closing: () => this.closing,
          onError: (err) => this.log(`github: pull on ${repo.channel} failed: ${String(err)}`),
        }),
      );
    }
  }

  /** The issue an act concerns: the bridged message it answers, its conversation, or an issue it names. */
  private async issueOf(env: Envelope): Promise<number | undefined> {
    if (env.re) {
      const e = await this.kv.get(`env.${env.re}`);
      if (e?.operation === "PUT") return e.json<{ issue: number }>().issue;
    }
    const conv = env.conv ? /^issue-(\d{1,9})$/.exec(env.conv) : null;
    if (conv) return Number(conv[1]);
    const body = env.body as { issue?: unknown } | string | null;
    if (body && typeof body === "object" && Number.isInteger(body.issue)) return body.issue as number;
    const named = typeof body === "string" ? /(?:^|\s)#(\d{1,9})\b/.exec(body) : null;
    return named ? Number(named[1]) : undefined;
  }

  private commentText(env: Envelope, seq: number): string {
    const fact = factId(seq);
    const body = env.body as { text?: unknown } | string | null;
    const text =
      typeof body === "string"
        ? body
        : body && typeof body === "object" && typeof body.text === "string"
          ? body.text
          : `\`\`\`json\n${JSON.stringify(env.body, null, 2)}\n\`\`\``;
    return [
      `**${env.sender}** · \`${env.act}\` · hop ${env.hop}${env.re ? ` · re \`${env.re}\`` : ""}`,
      "",
      text.replaceAll(BRIDGE_MARKER, "<!-- (marker removed) "),
      "",
      `<sub>agora fact [${fact}](${this.gh.consoleUrl}/api/facts/${fact}) · signed by ${env.sender}</sub>`,
      `${BRIDGE_MARKER} id=${env.id} -->`,
    ].join("\n");
  }

  /**
   * One message of a bridged channel: what does not go to GitHub is acked at once;
   * a comment is posted in the background, in order per issue, so a comment that
   * retries (429/5xx) holds back its own issue only — never the pull loop.
   */
  private async dispatch(m: JsMsg, repo: GithubRepoConfig): Promise<void> {
    const job = await this.outboundJob(m);
    if (!job) return;
    const key = `${repo.repo}#${job.issue}`;
    const run = (this.chains.get(key) ?? Promise.resolve()).then(() => this.post(m, repo, job.env, job.issue));
    const tracked: Promise<void> = run
      .catch((err) => this.log(`github: ${String(err)}`))
      .finally(() => {
        this.inflight.delete(tracked);
        if (this.chains.get(key) === tracked) this.chains.delete(key);
      });
    this.chains.set(key, tracked);
    this.inflight.add(tracked);
    if (this.inflight.size >= MAX_INFLIGHT_COMMENTS) await Promise.race(this.inflight);
  }

  /** The act and issue of a message to post, or undefined (acked) when it does not go to GitHub. */
  private async outboundJob(m: JsMsg): Promise<{ env: Envelope; issue: number } | undefined> {
    const verdict = await this.verifier.verify(m.data, m.subject);
    if (!verdict.ok || verdict.env.sender === this.identity.name) {
      m.ack();
      return undefined;
    }
    const env = verdict.env;
    // A killed bridge posts nothing (held until it is revived); a killed or over-budget sender's act is not posted.
    if (this.killed()) {
      m.nak(1000);
      return undefined;
    }
    if (this.standing?.of(env, m.time.getTime())) {
      this.counters.refusedSenders++;
      m.ack();
      return undefined;
    }
    if (env.hop === 0) {
      // Never forward an act at hop 0: nothing may answer it, on GitHub either.
      this.counters.hopZeroSkipped++;
      m.ack();
      return undefined;
    }
    const issue = await this.issueOf(env);
    if (issue === undefined || (await this.kv.get(`out.${env.id}`))) {
      m.ack();
      return undefined;
    }
    return { env, issue };
  }

  private async post(m: JsMsg, repo: GithubRepoConfig, env: Envelope, issue: number): Promise<void> {
    // While GitHub is retried, the message stays ours (no redelivery, so no second comment).
    const beat = setInterval(() => m.working(), 20_000);
    try {
      const posted = await this.github.comment(repo.repo, issue, this.commentText(env, m.seq));
      this.counters.comments++;
      await this.kv.put(`out.${env.id}`, String(posted.id));
      await this.kv.put(`env.${env.id}`, JSON.stringify({ repo: repo.repo, issue }));
      if (repo.decisionLabel && DECISION_ACTS.has(env.act)) {
        await this.github.label(repo.repo, issue, repo.decisionLabel);
        this.counters.labels++;
      }
    } catch (err) {
      const status = err instanceof GitHubApiError ? err.status : 0;
      this.counters.failed++;
      this.log(`github: ${(err as Error).message}`);
      await this.record(
        {
          type: "github_failed",
          agent: this.identity.name,
          code: "AGORA_ERR_GITHUB_API",
          status,
          repo: repo.repo,
          issue,
          id: env.id,
          channel: env.channel,
        },
        env.id,
      );
    } finally {
      clearInterval(beat);
    }
    m.ack();
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.presence?.stop();
    for (const [source, w] of [...this.rejections]) await this.flushRejections(source, w);
    await Promise.allSettled(this.loops);
    await Promise.allSettled([...this.inflight]);
    this.controls?.close();
    this.registry.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
