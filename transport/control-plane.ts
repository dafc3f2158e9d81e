// The control plane's transport: issue a signed control (KV agora-control, then
// core NATS agora.ctl.<verb>, acknowledged by every host) and follow it (KV state
// at start, core-NATS fast path, KV updates as catch-up).
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { KvWatchInclude, type KV } from "@nats-io/kv";
import { controlKeyOf, ControlState, type ControlEnvelope } from "../protocol/control.js";
import { controlSubject } from "../protocol/subjects.js";
import { verifyControl } from "../trust/control.js";
import type { KeyRegistry } from "../trust/key-registry.js";

/** Publish a control: record it in KV (survives restarts), then tell every host and wait briefly for their acks. */
export async function issueControl(nc: NatsConnection, kv: KV, control: ControlEnvelope, options: { waitMs?: number } = {}): Promise<{ hosts: string[] }> {
  const data = JSON.stringify(control);
  await kv.put(controlKeyOf(control), data);
  const hosts: string[] = [];
  try {
    const replies = await nc.requestMany(controlSubject(control.verb), data, {
      strategy: "stall",
      stall: 30,
      maxWait: options.waitMs ?? 300,
    });
    for await (const r of replies) hosts.push(r.string());
  } catch {
    /* no host listening: the KV record still applies when they start */
  }
  return { hosts };
}

/**
 * Follows the control plane for a host: KV state at start (so a killed agent
 * stays killed across restarts), then core-NATS controls (fast path) and KV
 * updates (catch-up after a reconnect). `onChange` runs for every applied control.
 */
export class ControlFollower {
  readonly state = new ControlState();
  private sub?: Subscription;
  private stopWatch?: () => void;

  constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly keys: KeyRegistry,
    private readonly controllers: readonly string[],
    private readonly hostName: string,
    private readonly onChange: (c: ControlEnvelope) => void,
  ) {}

  private apply(c: ControlEnvelope | undefined): boolean {
    if (!this.state.apply(c)) return false;
    this.onChange(c!);
    return true;
  }

  async start(): Promise<void> {
    for await (const k of await this.kv.keys()) {
      const e = await this.kv.get(k);
      if (e && e.operation === "PUT") this.apply(verifyControl(e.value, this.keys, this.controllers));
    }
    this.sub = this.nc.subscribe(controlSubject(">"), {
      callback: (err, msg) => {
        if (err) return;
        const c = verifyControl(msg.data, this.keys, this.controllers);
        if (this.apply(c) || (c && this.state.has(c))) msg.respond(this.hostName);
      },
    });
    const watcher = await this.kv.watch({ include: KvWatchInclude.UpdatesOnly });
    this.stopWatch = () => watcher.stop();
    void (async () => {
      for await (const e of watcher) if (e.operation === "PUT") this.apply(verifyControl(e.value, this.keys, this.controllers));
    })();
  }

  killed(agent: string): boolean {
    return this.state.killed(agent);
  }

  draining(host: string): boolean {
    return this.state.draining(host);
  }

  close(): void {
    this.sub?.unsubscribe();
    this.stopWatch?.();
  }
}
