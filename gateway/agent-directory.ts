// AgentDirectory: every agent of the config with its status — what hosts report
// in agora-agents, overruled by the signed controls in agora-control — kept
// live, with a callback for each agent whose view changed.
import type { NatsConnection } from "@nats-io/transport-node";
import { senderKillable, type AgoraConfig } from "../config/config.js";
import { isKilled } from "../trust/control.js";
import { ALL_AGENTS } from "../protocol/control.js";
import { DEFAULT_LEASE_TTL_MS } from "../config/defaults.js";
import { leaseTtl } from "../host/placement/leases.js";
import { parseAgentStatus, parseHostRecord, statusView, type AgentStatusRecord } from "../protocol/records.js";
import { ControlFollower } from "../transport/control-plane.js";
import type { Infrastructure } from "../transport/infrastructure.js";
import { followBucket, type BucketFollower } from "../transport/kv-follow.js";
import type { KeyRegistry } from "../trust/key-registry.js";
import type { AgentView } from "./frames.js";

export class AgentDirectory {
  private readonly status = new Map<string, AgentStatusRecord>();
  /** Live hosts (their records in agora-leases) and when each last wrote it (server time, ms). */
  private readonly hostSeen = new Map<string, number>();
  private leaseTtlMs = DEFAULT_LEASE_TTL_MS;
  private hosts?: BucketFollower;
  private readonly controls: ControlFollower;
  private statuses?: BucketFollower;
  /** Called with each agent whose view changed (after start). */
  onChange?: (view: AgentView) => void;

  constructor(
    private readonly config: AgoraConfig,
    private readonly infra: Infrastructure,
    nc: NatsConnection,
    keys: KeyRegistry,
  ) {
    this.controls = new ControlFollower(nc, infra.control, keys, config.controllers, undefined, (c) => {
      for (const a of this.agents()) if (c.agent === ALL_AGENTS || c.agent === a.name) this.onChange?.(a);
    });
  }

  async start(): Promise<void> {
    this.statuses = await followBucket(this.infra.agents, (e) => {
      const record = e.operation === "PUT" ? parseAgentStatus(e.value) : undefined;
      if (!record) return; // not a status a host wrote: never shown, never a crash
      this.status.set(e.key, record);
      const view = this.agents().find((a) => a.name === e.key);
      if (view) this.onChange?.(view);
    });
    await this.statuses.ready;
    this.leaseTtlMs = await leaseTtl(this.infra.leases);
    this.hosts = await followBucket(
      this.infra.leases,
      (e) => {
        if (!e.key.startsWith("host.")) return;
        const record = e.operation === "PUT" ? parseHostRecord(e.value) : undefined;
        if (record) this.hostSeen.set(record.host, e.created.getTime());
        else this.hostSeen.delete(e.key.slice("host.".length));
      },
      { expiring: true },
    );
    await this.hosts.ready;
    await this.controls.start();
  }

  /** Every agent of the config with its current status. */
  agents(): AgentView[] {
    const hosted = this.config.agents.map((a): AgentView => {
      const killed = this.controls.killed(a.name) ? { since: this.controls.state.deciding(a.name)?.ts } : undefined;
      return {
        name: a.name,
        kind: "hosted",
        ...statusView(this.status.get(a.name), killed),
        read: a.read,
        write: a.write,
      };
    });
    const external = this.config.external.map((a): AgentView => ({
      name: a.name,
      kind: "external",
      killable: senderKillable(this.config, a.name),
      ...(this.killed(a.name)
        ? { status: "killed", since: this.controls.state.deciding(a.name)?.ts }
        : { status: "unknown" }),
      read: a.read,
      write: a.write,
    }));
    return [...hosted, ...external];
  }

  /** Whether the control plane has killed `name` — a hosted agent, or an identity whose sends a kill stops. */
  killed(name: string): boolean {
    return isKilled(this.config, this.controls.state, name);
  }

  /** The hosts that renewed their record within the lease TTL: those a control should reach. */
  liveHosts(now = Date.now()): string[] {
    return [...this.hostSeen].filter(([, at]) => now - at < this.leaseTtlMs).map(([h]) => h);
  }

  /** Resolves when either follower ends: undefined after close(), else why. */
  closed(): Promise<void | Error> {
    return Promise.race([
      this.statuses?.closed() ?? Promise.resolve(),
      this.hosts?.closed() ?? Promise.resolve(),
      this.controls.closed(),
    ]);
  }

  close(): void {
    this.statuses?.stop();
    this.hosts?.stop();
    this.controls.close();
  }
}
