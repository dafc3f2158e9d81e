// AgentDirectory: every agent of the config with its status — what hosts report
// in agora-agents, overruled by the signed controls in agora-control — kept
// live, with a callback for each agent whose view changed.
import type { NatsConnection } from "@nats-io/transport-node";
import type { AgoraConfig } from "../config/config.js";
import { ALL_AGENTS } from "../protocol/control.js";
import { parseAgentStatus, statusView, type AgentStatusRecord } from "../protocol/records.js";
import { ControlFollower } from "../transport/control-plane.js";
import type { Infrastructure } from "../transport/infrastructure.js";
import { followBucket, type BucketFollower } from "../transport/kv-follow.js";
import type { KeyRegistry } from "../trust/key-registry.js";
import type { AgentView } from "./frames.js";

export class AgentDirectory {
  private readonly status = new Map<string, AgentStatusRecord>();
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
      status: "unknown",
      read: a.read,
      write: a.write,
    }));
    return [...hosted, ...external];
  }

  /** Resolves when either follower ends: undefined after close(), else why. */
  closed(): Promise<void | Error> {
    return Promise.race([this.statuses?.closed() ?? Promise.resolve(), this.controls.closed()]);
  }

  close(): void {
    this.statuses?.stop();
    this.controls.close();
  }
}
