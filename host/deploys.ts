// AgentDeploys: what each hosted agent should run, as agora-deploys says — its
// component and, during a rollout, a canary beside it — and the host's side of
// rollouts: each canary's tally published to agora-rollouts, and a failed canary
// rolled back in the deploy record so no host starts it again.
import type { KV } from "@nats-io/kv";
import type { HostedAgentConfig } from "../config/config.js";
import { parseDeploy, parseRollout, type CanaryDeploy, type DeployRecord } from "../protocol/records.js";
import { DEPLOYS_BUCKET } from "../protocol/subjects.js";
import { changeDeploy } from "../transport/deploys.js";
import { followBucket, type BucketFollower } from "../transport/kv-follow.js";
import type { Canary } from "./runtime/canary.js";

/** What an agent runs: a component (a path or `name@version`) and maybe a canary beside it. */
export interface AgentPlan {
  component: string;
  /** The canary, and `ts` of the deploy record that started its rollout (a new record is a new rollout). */
  canary?: CanaryDeploy & { since: string };
}

/** One string per plan: a host switches an agent when its plan's key changes. */
export function planKey(plan: AgentPlan): string {
  return plan.canary
    ? `${plan.component} + canary ${plan.canary.component} at ${plan.canary.percent}%`
    : plan.component;
}

/** Attempts to write a failed canary's rollback, backing off up to 30 s between them. */
const ROLLBACK_ATTEMPTS = 8;
/** How often a rollout's tally is written to agora-rollouts (when it changed). */
const REPORT_MS = 1000;

export interface AgentDeploysOptions {
  deploys: KV;
  rollouts: KV;
  /** This host's name: it signs rollbacks it writes as `by`. */
  host: string;
  /** The component an agent's config names (undefined: not an agent of the config). */
  configured(agent: string): string | undefined;
  /** `agent`'s plan changed (queued in the agent's turn even when it is not running here). */
  changed(agent: string): void;
  refused(key: string, reason: string): void;
  log(line: string): void;
}

export class AgentDeploys {
  private readonly options: AgentDeploysOptions;
  private readonly records = new Map<string, DeployRecord>();
  /** Rollouts of the agents running here, reported while they run. */
  private readonly canaries = new Map<string, Canary>();
  private follower?: BucketFollower;
  private reporter?: NodeJS.Timeout;
  private stopped = false;

  constructor(options: AgentDeploysOptions) {
    this.options = options;
  }

  /** Follow agora-deploys; resolves once its current records are read. */
  async start(): Promise<void> {
    this.follower = await followBucket(this.options.deploys, (e) => {
      const d = e.operation === "PUT" ? parseDeploy(e.value) : undefined;
      if (e.operation === "PUT" && (!d || d.agent !== e.key)) {
        this.options.refused(e.key, `${DEPLOYS_BUCKET} ${e.key} is not a deploy record; ignored`);
        return;
      }
      const configured = this.options.configured(e.key);
      if (configured === undefined) return;
      const before = planKey(this.plan(e.key, configured));
      if (d) this.records.set(e.key, d);
      else this.records.delete(e.key);
      if (before !== planKey(this.plan(e.key, configured))) this.options.changed(e.key);
    });
    await this.follower.ready;
    this.reporter = setInterval(() => void this.report(), REPORT_MS);
    this.reporter.unref();
  }

  /** What `agent` runs: its deploy record's component and canary, else what its config names. */
  plan(agent: string, configured: string): AgentPlan {
    const d = this.records.get(agent);
    return d
      ? { component: d.component, ...(d.canary ? { canary: { ...d.canary, since: d.ts } } : {}) }
      : { component: configured };
  }

  /** `agent` as it runs here: with the component deployed for it, when one is. */
  deployed(agent: HostedAgentConfig): HostedAgentConfig {
    const { component } = this.plan(agent.name, agent.component);
    return component === agent.component ? agent : { ...agent, component };
  }

  /** `agent` runs `canary` here: its tally is reported until untrack(). */
  track(agent: string, canary: Canary): void {
    this.canaries.set(agent, canary);
  }

  /** `agent` stopped here: its rollout's last tally is written. */
  async untrack(agent: string): Promise<void> {
    const canary = this.canaries.get(agent);
    this.canaries.delete(agent);
    if (canary) await this.put(agent, canary);
  }

  /**
   * `agent`'s canary failed (or was refused at load) here: its tally is written at once, and its deploy
   * record loses the canary — unless someone replaced that canary meanwhile — so no host starts it again.
   */
  async canaryFailed(
    agent: string,
    canaryComponent: string,
    since: string,
    reason: string,
    canary?: Canary,
  ): Promise<void> {
    if (canary) await this.put(agent, canary);
    const configured = this.options.configured(agent);
    if (configured === undefined) return;
    // Retried through a NATS outage: until it is written, the next host to start the agent runs the canary again.
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await changeDeploy(
          this.options.deploys,
          agent,
          configured,
          { op: "canary_failed", component: canaryComponent, since, reason },
          this.options.host,
        );
        return;
      } catch (err) {
        this.options.log(
          `agent ${agent}: the rollback of canary ${canaryComponent} was not written (attempt ${attempt}): ${String(err)}`,
        );
        if (attempt >= ROLLBACK_ATTEMPTS) return;
        await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt)).unref());
      }
    }
  }

  private async report(): Promise<void> {
    for (const [agent, canary] of this.canaries) if (canary.dirty) await this.put(agent, canary);
  }

  /**
   * Write `canary`'s tally — unless another host's newer rollout of the agent is there already (a lease
   * moved while this host still had a final tally to write).
   */
  private async put(agent: string, canary: Canary): Promise<void> {
    try {
      const e = await this.options.rollouts.get(agent);
      const there = e?.operation === "PUT" ? parseRollout(e.value) : undefined;
      if (there && there.host !== this.options.host && there.since > canary.since) return;
      await this.options.rollouts.put(agent, JSON.stringify(canary.report(agent, this.options.host)));
    } catch (err) {
      this.options.log(`rollout of ${agent}: ${String(err)}`);
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.reporter);
    this.follower?.stop();
  }
}
