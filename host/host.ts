// Host: runs hosted agents — one durable consumer per (agent, readable channel).
// Which agents run here is decided by their placement leases (placement.ts):
// several hosts share one NATS, and each agent runs on exactly one of them.
import { AckPolicy, DeliverPolicy, type Consumer } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { AgentRuntime } from "./runtime/agent-runtime.js";
import { loadAgentState, loadAgentTimers, type AppliedTimer } from "./runtime/commit.js";
import { TimerClock } from "./runtime/timers.js";
import { ComponentLoader, type LoadedComponent } from "./components/component-loader.js";
import { ControlFollower } from "../transport/control-plane.js";
import { HostMetrics } from "./metrics.js";
import type { AgoraConfig, HostedAgentConfig } from "../config/config.js";
import { AgoraError } from "../protocol/errors.js";
import { EventHub } from "./event-hub.js";
import {
  RECORDED_EVENTS,
  zeroCounts,
  type HostEvent,
  type HostEventOf,
  type HostEventType,
} from "../protocol/events.js";
import type { KeyRegistry } from "../trust/key-registry.js";
import { KeyStore, type Identity } from "../trust/key-store.js";
import type { Infrastructure } from "../transport/infrastructure.js";
import { Placement, type StopReason } from "./placement/scheduler.js";
import { channelSubject } from "../protocol/subjects.js";
import { CancelledConversations } from "../transport/cancels.js";
import { ComponentRegistry } from "../transport/component-registry.js";
import { verifyComponent } from "../trust/components.js";
import { parseComponentRef } from "../protocol/components.js";
import { publishEvent } from "../transport/publisher.js";
import { pullLoop } from "../transport/pull-loop.js";
import { openSession } from "../transport/session.js";
import type { Verifier } from "../trust/verifier.js";
import { DEFAULT_WORKER_LIMITS, WorkerPool } from "./workers/worker-pool.js";
import {
  consumerName,
  LEASES_BUCKET,
  STREAM,
  TIMERS_BUCKET,
  CONVS_BUCKET,
  COMPONENTS_STORE,
  DEPLOYS_BUCKET,
  timerConsumerName,
  timerSubject,
} from "../protocol/subjects.js";
import { isName } from "../protocol/names.js";
import { ensureDurableConsumer } from "../transport/consumer.js";
import { isNotFound } from "../transport/jetstream-errors.js";
import {
  type CanaryDeploy,
  type AgentStatusRecord,
  type CommitRecord,
  type ReportedStatus,
} from "../protocol/records.js";
import { ALL_AGENTS, HOST_VERBS, type ControlEnvelope } from "../protocol/control.js";
import { makeCard, type AgentCard } from "../protocol/cards.js";
import { signCard } from "../trust/cards.js";
import { CardHeartbeat } from "../transport/presence.js";
import { SenderStanding } from "../trust/budget.js";
import { EchoTally } from "./echo-tally.js";
import { AgentDeploys, planKey } from "./deploys.js";
import { Canary, tallies } from "./runtime/canary.js";

/**
 * Events whose facts decide how the recorder attributes the acts after them (which digest produced each):
 * report() returns only once they are in the stream, so nothing the agent does next can come before them.
 */
const ORDERED_EVENTS: ReadonlySet<HostEvent["type"]> = new Set(["agent_started", "canary_rolled_back"]);

/** A canary that could not be fetched (not refused) is tried again after this long. */
const CANARY_RETRY_MS = 30_000;

/** `sha256:<hex>` of a loaded component's bytes. */
const digestOf = (c: LoadedComponent) => `sha256:${c.digest.split(":")[0]}`;

export interface HostOptions {
  config: AgoraConfig;
  nc: NatsConnection;
  /** The agents this host may run (default: every agent in the config); leases decide which it does run. */
  agents?: readonly string[];
  loader?: ComponentLoader;
  log?: (line: string) => void;
}

/** Counters of each control, per host. */
export type HostCounters = Record<HostEventType, number>;

export class Host {
  readonly config: AgoraConfig;
  readonly nc: NatsConnection;
  readonly events = new EventHub();
  readonly counters: HostCounters = zeroCounts();
  readonly metrics = new HostMetrics();
  readonly runtimes = new Map<string, AgentRuntime>();
  private readonly options: HostOptions;
  private readonly loader: ComponentLoader;
  private infra?: Infrastructure;
  private registry?: KeyRegistry;
  private pool?: WorkerPool;
  private identity?: Identity;
  private control?: ControlFollower;
  private store?: KeyStore;
  private verifier?: Verifier;
  private placement?: Placement;
  /** Killed senders and send budgets, shared by this host's agents (one budget count per message). */
  private standing?: SenderStanding;
  private cancels?: CancelledConversations;
  private components?: Promise<ComponentRegistry>;
  /** What each agent should run (agora-deploys), and its rollout's reports. */
  private deploys?: AgentDeploys;
  /** Agent → the plan it runs here now (planKey). */
  private readonly running = new Map<string, string>();
  /** Pull loops of each running agent. */
  private readonly loops = new Map<string, Promise<void>[]>();
  private presence?: CardHeartbeat;
  /** The timers of the agents running here, fired when due. */
  private clock?: TimerClock;
  /** Each running agent's timer consumer and loop, once made. */
  private readonly timerLoops = new Map<string, Promise<void>>();
  /** Agents' identities from the key directory, loaded once: they sign cards and key event ids. */
  private readonly agentIds = new Map<string, Identity>();
  /** Starts and stops of one agent run one after another (a lost lease's stop may still run when it is taken again). */
  private readonly transitions = new Map<string, Promise<unknown>>();
  private closed = false;
  /** Recorded events still being published. */
  private readonly recording = new Set<Promise<void>>();
  /** Self-echo drops, recorded as one event per agent, channel and window. */
  private readonly echoes = new EchoTally((summary) => this.record(summary));

  constructor(options: HostOptions) {
    this.options = options;
    this.config = options.config;
    this.nc = options.nc;
    this.loader = options.loader ?? new ComponentLoader();
  }

  /** Start a host: stream, buckets, keys, components, consumers. */
  static async start(options: HostOptions): Promise<Host> {
    const host = new Host(options);
    try {
      await host.start();
    } catch (err) {
      await host.close().catch(() => {}); // workers, subscriptions and leases taken so far
      throw err;
    }
    return host;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private async start(): Promise<void> {
    const { config } = this;
    const wanted = this.options.agents
      ? config.agents.filter((a) => this.options.agents!.includes(a.name))
      : config.agents;
    const session = await openSession(config, this.nc, { identity: config.host.name, keys: wanted.map((a) => a.name) });
    this.infra = session.infra;
    this.identity = session.identity;
    this.store = new KeyStore(config.keysDir);
    this.registry = session.registry;
    this.verifier = session.verifier;
    const registry = session.registry;
    void registry
      .closed()
      .then((err) => err && this.log(`key registry: ${err.message}; new keys are looked up on demand`));
    this.control = new ControlFollower(
      this.nc,
      this.infra.control,
      registry,
      config.controllers,
      config.host.name,
      (c) => void this.onControl(c),
    );
    await this.control.start();
    this.standing = new SenderStanding(config, this.control.state);
    this.cancels = new CancelledConversations(this.infra.convs, (key, reason) =>
      this.refusedRecord(config.host.name, CONVS_BUCKET, key, reason),
    );
    await this.cancels.start();
    // Deploys: an agent running here switches between two messages to what is deployed for it.
    const configured = new Map(config.agents.map((a) => [a.name, a.component]));
    this.deploys = new AgentDeploys({
      deploys: this.infra.deploys,
      rollouts: this.infra.rollouts,
      host: config.host.name,
      configured: (agent) => configured.get(agent),
      changed: (agent) => void this.redeploy(agent),
      refused: (key, reason) => this.refusedRecord(config.host.name, DEPLOYS_BUCKET, key, reason),
      log: (l) => this.log(l),
    });
    await this.deploys.start();
    void this.control
      .closed()
      .then(
        (err) => err && this.log(`control plane: ${err.message}; kills and drains reach this host only on restart`),
      );
    const infra = this.infra;
    this.pool = new WorkerPool({
      size: config.host.workers,
      deadlineMs: config.limits.callDeadlineMs,
      idleMs: config.limits.instanceIdleMs,
      loadState: async (agent) => ({
        state: await loadAgentState(infra.state, agent),
        timers: (await loadAgentTimers(infra.timers, agent)).map((t) => t.timer.tag),
      }),
      log: (l) => this.log(l),
    });
    this.clock = new TimerClock({
      kv: infra.timers,
      fire: (event, msgId) => publishEvent(infra.publisher, this.identity!, event, msgId),
      holds: (agent) => this.placement?.valid(agent) ?? false,
      ready: (agent) => this.timerLoop(agent),
      log: (l) => this.log(l),
    });
    const byName = new Map(config.agents.map((a) => [a.name, a]));
    // Waits for the first round: the agents this host takes are running when start() returns.
    this.placement = new Placement({
      kv: infra.leases,
      host: config.host.name,
      agents: config.agents.map((a) => a.name),
      eligible: wanted.map((a) => a.name),
      draining: () => this.control!.draining(config.host.name),
      start: (name) => this.inTurn(name, () => this.startAgent(byName.get(name)!)),
      stop: (name, reason) => this.inTurn(name, () => this.stopAgent(name, reason)),
      log: (l) => this.log(l),
      refused: (key, owner, reason) =>
        this.refusedRecord(isName(owner) ? owner : config.host.name, LEASES_BUCKET, key, reason),
    });
    await this.placement.start();
    // The cards of the agents running here, renewed every heartbeat.
    this.presence = new CardHeartbeat(
      infra.cards,
      config.limits.heartbeatMs,
      () => this.cards(),
      (l) => this.log(l),
    );
    await this.presence.start();
  }

  /** Signed cards of the agents running here; a killed one says offline. */
  private cards(): AgentCard[] {
    const cards: AgentCard[] = [];
    for (const [name, { config: a }] of this.runtimes) {
      const key = this.agentIdentity(name)?.privateKey;
      if (!key) continue;
      const card = makeCard({
        name,
        kind: "hosted",
        description: a.description,
        skills: [...a.skills],
        reads: a.read,
        writes: a.write,
        answers: a.answers,
        status: this.killed(name) ? "offline" : "idle",
        heartbeatMs: this.config.limits.heartbeatMs,
        host: this.config.host.name,
      });
      cards.push(signCard(key, card));
    }
    return cards;
  }

  private inTurn<T>(agent: string, f: () => Promise<T>): Promise<T> {
    const run = (this.transitions.get(agent) ?? Promise.resolve()).then(f);
    this.transitions.set(
      agent,
      run.catch(() => {}),
    );
    return run;
  }

  /** Agents this host holds the placement lease of. */
  placed(): string[] {
    return this.placement?.held() ?? [];
  }

  /**
   * Switch `name` to the component now deployed for it, between two messages: the new one is fetched and
   * checked first (a refused one leaves the running version alone, with an agent-refused fact); then the
   * agent stops here — the message in hand finishes and commits on the old version — and starts on the
   * new one, its state from KV; what arrived meanwhile waits in its consumer. The lease stays here.
   */
  private redeploy(name: string): Promise<void> {
    return this.inTurn(name, async () => {
      const agent = this.config.agents.find((a) => a.name === name);
      if (!agent || !this.runtimes.has(name)) return;
      const plan = this.deploys!.plan(name, agent.component);
      if (this.running.get(name) === planKey(plan)) return; // started on it already
      const next = { ...agent, component: plan.component };
      try {
        await this.loadComponent(next); // a canary refused at the start is rolled back there
      } catch (err) {
        const e = err instanceof AgoraError ? err : new AgoraError("AGORA_ERR_COMPONENT_LOAD", String(err));
        this.log(
          `agent ${name}: deploy of ${next.component} refused: ${e.code}: ${e.message}; the running version stays`,
        );
        await this.report({ type: "agent_refused", agent: name, code: e.code, reason: e.message.slice(0, 500) });
        return;
      }
      this.log(`agent ${name}: switching to ${planKey(plan)}`);
      await this.stopAgent(name, "redeployed");
      try {
        await this.startAgent(next);
      } catch (err) {
        // Stopped here but not started again (NATS trouble): hand the lease back rather than hold a dead agent.
        // Not awaited: the hand-over takes this agent's turn, which this one holds.
        this.log(`agent ${name}: not restarted after the deploy: ${String(err)}; handing it back`);
        void this.placement?.handBack(name, "not restarted after a deploy");
      }
    }).catch((err: unknown) => this.log(`agent ${name}: redeploy failed: ${String(err)}`));
  }

  private async startAgent(configured: HostedAgentConfig): Promise<void> {
    const plan = this.deploys!.plan(configured.name, configured.component);
    const agent = plan.component === configured.component ? configured : { ...configured, component: plan.component };
    const infra = this.infra!;
    const id = this.store!.load(agent.name);
    this.agentIds.set(agent.name, id);
    const verifier = this.verifier!;
    // An agent signs with one key wherever it runs: a host holding another key for it must not run it.
    const registered = await infra.keys.get(agent.name);
    if (registered?.operation === "PUT" && registered.string() !== id.publicKey) {
      throw new AgoraError(
        "AGORA_ERR_KEY_INVALID",
        `host ${this.config.host.name} has a different key for agent ${agent.name} (${this.store!.path(agent.name)}) than the one registered in agora-keys; every host must have the same agent keys (share the key directory)`,
      );
    }
    const started = performance.now();
    // NATS trouble here throws: placement gives the lease back and the agent is tried again.
    const state = await loadAgentState(infra.state, agent.name);
    const timers = await loadAgentTimers(infra.timers, agent.name, (key, reason) =>
      this.refusedRecord(agent.name, TIMERS_BUCKET, key, reason),
    );
    let canary: { loaded: LoadedComponent; rollout: Canary } | undefined;
    let component: LoadedComponent;
    try {
      // A component that cannot load here is refused (recorded once: the event id is stable) and its lease
      // given back, so a host that can load it takes it; this one tries again after a pause.
      component = await this.loadComponent(agent);
      canary = plan.canary && (await this.loadCanary(agent, component, plan.canary));
      await this.pool!.spawn(
        agent.name,
        canary ? [component, canary.loaded] : [component],
        agent.write,
        { state, timers: timers.map((t) => t.timer.tag) },
        { ...DEFAULT_WORKER_LIMITS, maxTimers: this.config.limits.maxTimers },
      );
    } catch (err) {
      const e =
        err instanceof AgoraError ? err : new AgoraError("AGORA_ERR_COMPONENT_LOAD", String(err), { cause: err });
      this.log(`agent ${agent.name} refused: ${e.code}: ${e.message}`);
      await this.report({ type: "agent_refused", agent: agent.name, code: e.code, reason: e.message.slice(0, 500) });
      await this.setStatus(agent.name, "failed", `${e.code}: ${e.message.slice(0, 300)}`);
      this.pool?.remove(agent.name);
      throw e;
    }
    const runtime = new AgentRuntime(agent, id.privateKey, id.seed, {
      publisher: infra.publisher,
      state: infra.state,
      processed: infra.processed,
      pool: this.pool!,
      verifier,
      metrics: this.metrics,
      limits: this.config.limits,
      report: (e) => this.report(e),
      setStatus: (a, status, reason) => this.setStatus(a, status, reason),
      holdsLease: (a) => this.placement!.valid(a),
      senderRefusal: (env, at) => this.standing!.of(env, at),
      cancelOf: (env, seq) => this.cancels!.of(env, seq),
      timers: infra.timers,
      timersApplied: (a, commit, applied) => this.timersApplied(a, commit, applied),
      ...(canary ? { canary: canary.rollout } : {}),
      rollout: this.config.components.rollout,
      canaryRolledBack: (a, c, reason) =>
        void this.deploys?.canaryFailed(a, c.canary.component, c.deployedAt, reason, c),
      log: (l) => this.log(l),
    });
    if (canary) this.deploys!.track(agent.name, canary.rollout);
    // A commit a crash interrupted is finished first: its acts are the previous run's, before this start's fact.
    await runtime.recover();
    const startedEvent: HostEventOf<"agent_started"> = {
      type: "agent_started",
      agent: agent.name,
      digest: digestOf(component),
      component: agent.component.slice(0, 300),
      started: new Date().toISOString(),
      ms: Math.round(performance.now() - started),
      ...(canary
        ? {
            canary: canary.rollout.canary.component,
            canaryDigest: canary.rollout.canary.digest,
            canaryPercent: canary.rollout.percent,
          }
        : {}),
    };
    await this.report(startedEvent);
    runtime.setKilled(this.control!.killed(agent.name));
    this.runtimes.set(agent.name, runtime);
    this.running.set(agent.name, planKey(canary ? plan : { component: plan.component }));
    await this.setStatus(agent.name, "running");
    void this.presence?.now();
    this.loops.set(agent.name, []);
    // Its timers fire on its own subject, read by its own consumer: made when a timer first fires (or here,
    // if one fired before — on another host, say — whose event may still wait in it).
    if (timers.length > 0 || (await this.timerConsumerExists(agent.name))) await this.timerLoop(agent.name);
    this.clock!.load(agent.name, timers);
    for (const channel of agent.read) {
      const consumer = await ensureDurableConsumer(infra, STREAM, {
        durable_name: consumerName(agent.name, channel),
        filter_subject: channelSubject(channel),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
        max_ack_pending: 1000,
        ack_wait: nanos(this.config.limits.ackWaitMs),
      });
      this.loops.get(agent.name)!.push(this.consume(agent.name, runtime, consumer, channel));
    }
  }

  /**
   * An agent's component: a file, or `name@version` from the registry — there only when its bytes match
   * the manifest a trusted publisher signed (AGORA_ERR_COMPONENT_UNSIGNED / _UNTRUSTED / _DIGEST otherwise).
   */
  private async loadComponent(agent: HostedAgentConfig): Promise<LoadedComponent> {
    const memoryBytes = agent.memoryMb * 1024 * 1024;
    const ref = parseComponentRef(agent.component);
    if (!ref) return this.loader.load(agent.component, { memoryBytes });
    this.components ??= ComponentRegistry.open(this.nc).catch((cause: unknown) => {
      this.components = undefined;
      throw new AgoraError(
        "AGORA_ERR_COMPONENT_NOT_FOUND",
        `the component registry (${COMPONENTS_STORE}) is not there: push ${agent.component} with 'agora components push' first`,
        { cause },
      );
    });
    const { bytes, manifest } = await (await this.components).get(ref);
    verifyComponent(ref, manifest, bytes, this.config.components.publishers);
    return this.loader.loadBytes(agent.component, bytes, { memoryBytes });
  }

  /**
   * The canary beside `agent`'s current `component`, loaded and checked as any registry component. One that
   * cannot load is rolled back at once (a canary-rolled-back fact, its deploy record rewritten) and the agent
   * starts on its current version alone.
   */
  private async loadCanary(
    agent: HostedAgentConfig,
    component: LoadedComponent,
    deploy: CanaryDeploy & { since: string },
  ): Promise<{ loaded: LoadedComponent; rollout: Canary } | undefined> {
    try {
      const loaded = await this.loadComponent({ ...agent, component: deploy.component });
      const rollout = new Canary(
        { component: agent.component, digest: digestOf(component) },
        { component: deploy.component, digest: digestOf(loaded) },
        deploy.percent,
        deploy.since,
      );
      return { loaded, rollout };
    } catch (err) {
      if (!(err instanceof AgoraError)) {
        // Not the canary's fault (the registry unreachable, say): the agent runs without it for now, and the
        // canary is tried again shortly — nothing is written, so no other host gives it up either.
        this.log(`agent ${agent.name}: canary ${deploy.component} not loaded (${String(err)}); trying again in 30 s`);
        setTimeout(() => void (!this.closed && this.redeploy(agent.name)), CANARY_RETRY_MS).unref();
        return undefined;
      }
      const reason = `refused at load: ${err.code}: ${err.message}`.slice(0, 500);
      this.log(`agent ${agent.name}: canary ${deploy.component} ${reason}`);
      await this.report({
        type: "canary_rolled_back",
        agent: agent.name,
        component: deploy.component,
        digest: "",
        reason,
        at: new Date().toISOString(),
        ...tallies(),
      });
      void this.deploys?.canaryFailed(agent.name, deploy.component, deploy.since, reason);
      return undefined;
    }
  }

  /** Whether `agent` has had a timer consumer (it keeps its position across hosts and restarts). */
  private async timerConsumerExists(agent: string): Promise<boolean> {
    return this.infra!.jsm.consumers.info(STREAM, timerConsumerName(agent)).then(
      () => true,
      (err: unknown) => {
        if (isNotFound(err)) return false;
        throw err;
      },
    );
  }

  /**
   * The consumer of `agent`'s timer subject and its pull loop, made once per run
   * here. An agent that never sets a timer has neither: no pull a second for nothing.
   * Delivers from the start of the stream when first made — only this agent's timers, none handled yet.
   */
  private timerLoop(agent: string): Promise<void> {
    let ready = this.timerLoops.get(agent);
    if (!ready) {
      ready = (async () => {
        const runtime = this.runtimes.get(agent);
        if (!runtime) throw new Error(`agent ${agent} is not running here`);
        const consumer = await ensureDurableConsumer(this.infra!, STREAM, {
          durable_name: timerConsumerName(agent),
          filter_subject: timerSubject(agent),
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          max_ack_pending: 1000,
          ack_wait: nanos(this.config.limits.ackWaitMs),
        });
        this.loops.get(agent)?.push(this.consume(agent, runtime, consumer, "its timers"));
      })();
      ready.catch(() => this.timerLoops.delete(agent)); // tried again at the next firing
      this.timerLoops.set(agent, ready);
    }
    return ready;
  }

  /** Hand what `consumer` delivers to `runtime` (its queue), until the agent stops or is killed. */
  private consume(agent: string, runtime: AgentRuntime, consumer: Consumer, what: string): Promise<void> {
    return pullLoop(consumer, (m) => runtime.enqueue(m).catch((err) => this.log(`agent ${agent}: ${String(err)}`)), {
      closing: () => this.closed || runtime.stopping,
      paused: () => runtime.paused() && !this.closed,
      resumed: () => runtime.resumed(),
      onError: (err) => this.log(`agent ${agent} on ${what}: pull failed: ${String(err)}`),
    });
  }

  /** A record read from `bucket` was not well-formed and is ignored: logged and recorded. */
  private refusedRecord(agent: string, bucket: string, key: string, reason: string): void {
    this.log(`AGORA_ERR_BAD_RECORD: ${reason}`);
    void this.report({ type: "record_refused", agent, bucket, key, code: "AGORA_ERR_BAD_RECORD", reason });
  }

  /** A commit wrote `agent`'s timers: schedule (or unschedule) them here and record each as a fact. */
  private timersApplied(agent: string, commit: CommitRecord, applied: AppliedTimer[]): void {
    for (const t of applied) {
      const base = { agent, seq: commit.seq, id: commit.id };
      if (t.op === "set") {
        this.clock?.set(t.timer, t.revision);
        void this.report({
          type: "timer_set",
          ...base,
          channel: t.timer.channel,
          tag: t.timer.tag,
          timer: t.timer.id,
          due: t.timer.due,
        });
      } else {
        this.clock?.cancel(agent, t.tag);
        void this.report({ type: "timer_cancelled", ...base, tag: t.tag });
      }
    }
  }

  /**
   * Stop running `name` here: no new delivery starts, the message in hand
   * finishes (unless the lease was lost, which fences its commit), unhandled
   * messages go back to the consumer for the agent's next host.
   */
  private async stopAgent(name: string, reason: StopReason | "redeployed"): Promise<void> {
    const runtime = this.runtimes.get(name);
    runtime?.stop(reason === "lost");
    this.clock?.drop(name); // its timers stay in KV for its next host
    this.timerLoops.delete(name);
    await Promise.allSettled(this.loops.get(name) ?? []);
    await runtime?.idle();
    this.loops.delete(name);
    this.runtimes.delete(name);
    this.running.delete(name);
    await this.deploys?.untrack(name);
    this.pool?.remove(name);
    // An agent that never started here keeps the status its failure wrote.
    if (runtime && reason === "released")
      await this.setStatus(name, "stopped", `handed over by ${this.config.host.name}`);
  }

  /** Apply a kill or revive to the agents of this host it addresses; a drain or undrain of this host. */
  private async onControl(c: ControlEnvelope): Promise<void> {
    if (HOST_VERBS.has(c.verb)) {
      if (c.host !== this.config.host.name) return;
      this.log(
        `host ${c.host} ${c.verb === "drain" ? "drained: handing its agents over" : "undrained: taking agents again"} (by ${c.by})`,
      );
      this.placement?.wake();
      return;
    }
    // Every addressed agent is switched before the first await: the host acknowledges the control
    // as soon as this returns to the event loop, and the gateway's kill returns on that acknowledgement.
    const changed: [string, boolean][] = [];
    for (const [name, runtime] of this.runtimes) {
      if (c.agent !== ALL_AGENTS && c.agent !== name) continue;
      const killed = this.control!.killed(name);
      // A revive also brings back an agent marked failed.
      if (killed === runtime.killed && (killed || !runtime.failed)) continue;
      runtime.setKilled(killed);
      changed.push([name, killed]);
    }
    for (const [name, killed] of changed) {
      this.log(`agent ${name} ${killed ? "killed" : "revived"} by ${c.by}`);
      await this.report({ type: killed ? "killed" : "revived", agent: name, by: c.by, control: c.id });
    }
    void this.presence?.now(); // a killed agent's card says offline at once
  }

  /** Publish an agent's status for the gateway (`agora-agents` KV). */
  private async setStatus(agent: string, status: ReportedStatus, reason?: string): Promise<void> {
    const record: AgentStatusRecord = {
      agent,
      status,
      host: this.config.host.name,
      since: new Date().toISOString(),
      ...(reason ? { reason } : {}),
    };
    await this.infra?.agents
      .put(agent, JSON.stringify(record))
      .catch((err) => this.log(`status of ${agent}: ${String(err)}`));
  }

  /** Whether `agent` is killed by the control plane. */
  killed(agent: string): boolean {
    return this.control?.killed(agent) ?? false;
  }

  /** Count, stream and (for enforcement decisions) record an event. */
  async report(event: HostEvent): Promise<void> {
    this.counters[event.type]++;
    this.metrics.observe(event);
    this.events.emit(event);
    if (event.type === "echo_dropped" && event.count === undefined) this.echoes.add(event);
    else if (ORDERED_EVENTS.has(event.type)) await this.record(event);
    else void this.record(event);
  }

  /** Record a decision: published signed on `agora.ev.<type>`, where the recorder makes it a fact. */
  private record(event: HostEvent): Promise<void> {
    if (!RECORDED_EVENTS.has(event.type) || !this.infra || !this.identity) return Promise.resolve();
    // Recorded off the agent's path: publishEvent retries through outages with a stable Nats-Msg-Id.
    const publishing = publishEvent(this.infra.publisher, this.identity, event, undefined, this.idSecretOf(event.agent))
      .catch((err) => this.log(`cannot record ${event.type}: ${String(err)}`))
      .finally(() => this.recording.delete(publishing));
    this.recording.add(publishing);
    return publishing;
  }

  /** An agent's identity from the key directory (cached), or undefined for a name that is not one. */
  private agentIdentity(name: string): Identity | undefined {
    let id = this.agentIds.get(name);
    if (!id && this.store?.has(name)) {
      id = this.store.load(name);
      this.agentIds.set(name, id);
    }
    return id;
  }

  /** The seed that keys an event's id: its agent's (all hosts hold it), else this host's. */
  private idSecretOf(agent: string): string {
    return (this.agentIdentity(agent) ?? this.identity!).seed;
  }

  /** Agents with a component instance now (fewer than those placed here when limits.instanceIdle is set). */
  instances(): number {
    return this.pool?.instances() ?? 0;
  }

  /** Handled-message count per agent. */
  handled(): Record<string, number> {
    return Object.fromEntries([...this.runtimes].map(([n, r]) => [n, r.handled]));
  }

  /** Stop consuming, let in-flight messages finish, stop workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.runtimes.values()) r.release();
    await Promise.allSettled([...this.loops.values()].flat());
    await this.clock?.close();
    // Hand every agent over: stopped here (status "stopped"), leases deleted, so the other hosts take them at once.
    await this.presence?.stop();
    await this.placement?.close();
    await Promise.allSettled([...this.transitions.values()]); // e.g. the stop of an agent whose lease was lost
    this.echoes.flush();
    await Promise.allSettled([...this.recording]);
    await this.pool?.close();
    this.control?.close();
    this.cancels?.stop();
    this.deploys?.stop();
    this.registry?.close();
    this.events.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
