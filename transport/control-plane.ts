// The control plane's transport: issue a signed control (KV agora-control, then
// core NATS agora.ctl.<verb>, acknowledged by every host) and follow it (KV state
// at start, core-NATS fast path, KV updates as catch-up).
import { nuid, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { ALL_AGENTS, controlKeyOf, ControlState, HOST_VERBS, type ControlEnvelope } from "../protocol/control.js";
import { senderKillable, type AgoraConfig } from "../config/config.js";
import type { Identity } from "../trust/key-store.js";
import { publishEvent, type StreamPublish } from "./publisher.js";
import { controlAckSubject, controlSubject } from "../protocol/subjects.js";
import { verifyControl } from "../trust/control.js";
import type { KeyRegistry } from "../trust/key-registry.js";
import { followBucket, type BucketFollower } from "./kv-follow.js";

/** Publish a control: record it in KV (survives restarts), then tell every host and wait briefly for their acks. */
export async function issueControl(
  nc: NatsConnection,
  kv: KV,
  control: ControlEnvelope,
  options: {
    /** The longest wait for acknowledgements. @default 300 */
    waitMs?: number;
    /** The hosts known to be live: once each has acknowledged, the wait ends (else 30 ms after the last answer). */
    expect?: readonly string[];
  } = {},
): Promise<{ hosts: string[] }> {
  const data = JSON.stringify(control);
  await kv.put(controlKeyOf(control), data);
  // A request whose replies come on agora.ctlack.<token> (controlAckSubject), not on an inbox.
  const reply = controlAckSubject(nuid.next());
  const expect = options.expect ?? [];
  const waiting = new Set(expect);
  const hosts: string[] = [];
  await new Promise<void>((resolve) => {
    let stall: NodeJS.Timeout | undefined;
    const end = () => {
      clearTimeout(stall);
      clearTimeout(longest);
      sub.unsubscribe();
      resolve();
    };
    const longest = setTimeout(end, options.waitMs ?? 300);
    const sub = nc.subscribe(reply, {
      callback: (err, m) => {
        // No host listening (the server's "no responders"): the KV record still applies when they start.
        if (err || m.headers?.code === 503) return end();
        hosts.push(m.string());
        waiting.delete(m.string());
        if (expect.length > 0 && waiting.size === 0) return end(); // every live host has it
        clearTimeout(stall);
        stall = setTimeout(end, 30); // the others answer within 30 ms of each other
      },
    });
    nc.publish(controlSubject(control.verb), data, { reply });
  });
  return { hosts };
}

/**
 * Record a kill or revive of the identities no host runs (external agents, the
 * bridge) that `control` addresses — by name or "*" — as `killed` / `revived`
 * events signed by `signer`; hosts record their own agents'. Fire and forget:
 * a failure is returned, never thrown, for the caller to log.
 */
export async function recordSenderControl(
  js: StreamPublish,
  signer: Pick<Identity, "name" | "privateKey" | "seed">,
  config: AgoraConfig,
  control: ControlEnvelope,
): Promise<Error | undefined> {
  if (HOST_VERBS.has(control.verb)) return undefined;
  const names = config.external
    .map((e) => e.name)
    .filter((n) => (control.agent === ALL_AGENTS || control.agent === n) && senderKillable(config, n));
  try {
    for (const agent of names)
      await publishEvent(js, signer, {
        type: control.verb === "kill" ? "killed" : "revived",
        agent,
        by: control.by,
        control: control.id,
      });
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

/** The control state as the bucket holds it now: every signed control, read once (for commands that do not follow). */
export async function readControlState(
  kv: KV,
  keys: KeyRegistry,
  controllers: readonly string[],
): Promise<ControlState> {
  const state = new ControlState();
  for await (const k of await kv.keys()) {
    const e = await kv.get(k).catch(() => null);
    if (e?.operation === "PUT") state.apply(verifyControl(e.value, keys, controllers));
  }
  return state;
}

/**
 * Follows the control plane: the KV state first (so a killed agent stays killed
 * across restarts), then KV updates (catch-up after a reconnect) and — for a
 * host, which acknowledges on the request's inbox — the core-NATS fast path.
 * `onChange` runs for every control that changes the state.
 */
export class ControlFollower {
  readonly state = new ControlState();
  private sub?: Subscription;
  private follower?: BucketFollower;

  constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly keys: KeyRegistry,
    private readonly controllers: readonly string[],
    /** The host name to acknowledge controls with; without one, only KV is followed (a viewer). */
    private readonly respondAs: string | undefined,
    private readonly onChange: (c: ControlEnvelope) => void,
  ) {}

  private apply(c: ControlEnvelope | undefined): boolean {
    if (!this.state.apply(c)) return false;
    this.onChange(c!);
    return true;
  }

  async start(): Promise<void> {
    this.follower = await followBucket(this.kv, (e) => {
      if (e.operation === "PUT") this.apply(verifyControl(e.value, this.keys, this.controllers));
    });
    await this.follower.ready;
    if (this.respondAs === undefined) return;
    const me = this.respondAs;
    this.sub = this.nc.subscribe(controlSubject(">"), {
      callback: (err, msg) => {
        if (err) return;
        const c = verifyControl(msg.data, this.keys, this.controllers);
        if (this.apply(c) || (c && this.state.has(c))) msg.respond(me);
      },
    });
  }

  killed(agent: string): boolean {
    return this.state.killed(agent);
  }

  draining(host: string): boolean {
    return this.state.draining(host);
  }

  /** Resolves when following ends: undefined after close(), else why the watch ended. */
  closed(): Promise<void | Error> {
    return this.follower?.closed() ?? Promise.resolve();
  }

  close(): void {
    this.sub?.unsubscribe();
    this.follower?.stop();
  }
}
