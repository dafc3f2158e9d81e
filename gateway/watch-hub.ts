// WatchHub: one ordered consumer over the AGORA stream and the agent
// directory's changes, fanned out to WebSocket clients. Each client has a bounded
// queue: a slow browser loses frames (and is told how many), the host never waits.
import type { ConsumerMessages } from "@nats-io/jetstream";
import { openWatchConsumer } from "../transport/consumer.js";
import type { AgoraConfig } from "../config/config.js";
import type { Infrastructure } from "../transport/infrastructure.js";
import { subjectChannel } from "../protocol/subjects.js";
import { MetricsRegistry } from "../host/metrics.js";
import type { Verifier } from "../trust/verifier.js";
import type { AgentDirectory } from "./agent-directory.js";
import type { AgentView, WatchFrame } from "./frames.js";
import { STREAM, watchConsumerName } from "../protocol/subjects.js";
import { CONSOLE_EVENTS } from "../protocol/events.js";
import { timeSlice } from "../transport/time-slice.js";

/** The counters a watch client gets, in display order. */
export const WATCH_COUNTERS: readonly string[] = ["envelopes", ...CONSOLE_EVENTS, "frames_dropped"];

/** Frames kept for clients that connect later. @default 200 */
export const DEFAULT_BACKLOG = 200;
/** A client's queue bound; beyond it frames are dropped. @default 1000 */
export const DEFAULT_CLIENT_QUEUE = 1000;
/** Bytes buffered in a socket above which we stop writing to it. @default 1 MiB */
export const DEFAULT_MAX_BUFFERED = 1024 * 1024;

/** What the hub needs of a WebSocket. */
export interface FrameSink {
  send(data: string): void;
  readonly bufferedAmount: number;
  readonly readyState: number;
}

interface Client {
  sink: FrameSink;
  channels?: ReadonlySet<string>;
  queue: string[];
  dropped: number;
  limit: number;
  maxBuffered: number;
}

export class WatchHub {
  /** The console's counters: envelopes seen, the events the table marks `console`, frames dropped. */
  readonly counters: Record<string, number> = Object.fromEntries(WATCH_COUNTERS.map((k) => [k, 0]));
  readonly metrics = new MetricsRegistry();
  private readonly perChannel = this.metrics.counter(
    "agora_gateway_channel_messages_total",
    "Messages seen on each channel by the gateway, by verification result",
  );
  private readonly rejectsByReason = this.metrics.counter(
    "agora_gateway_rejects_total",
    "Messages the gateway's verification rejected, by reason code",
  );
  private readonly framesDropped = this.metrics.counter(
    "agora_gateway_frames_dropped_total",
    "Watch frames dropped for slow clients",
  );
  private readonly clients = new Set<Client>();
  private readonly backlog: { text: string; channel?: string }[] = [];
  private messages?: ConsumerMessages;
  private pumpTimer?: NodeJS.Timeout;
  private lastCounters = "";
  running = false;
  /** Why the agent directory stopped following its buckets, if it did. */
  directoryError?: Error;
  private closing = false;
  private following: Promise<void | Error> = Promise.resolve();

  constructor(
    private readonly config: AgoraConfig,
    private readonly infra: Infrastructure,
    private readonly verifier: Verifier,
    /** The agents and their status; the hub sends each change to its clients. */
    readonly directory: AgentDirectory,
  ) {}

  async start(): Promise<void> {
    this.directory.onChange = (view) => this.broadcast({ type: "agent", agent: view });
    await this.directory.start();
    // Agent status that no longer follows the buckets would go stale silently: say so in /readyz.
    void this.directory.closed().then((err) => {
      if (err) this.directoryError = err;
    });
    const consumer = await openWatchConsumer(this.infra, STREAM, watchConsumerName(this.config.gateway.identity), {
      deliver: "new",
    });
    this.messages = await consumer.consume();
    const messages = this.messages;
    this.running = true;
    // Sockets whose buffers were full get the rest of their queue as they drain.
    let ticks = 0;
    this.pumpTimer = setInterval(() => {
      for (const c of this.clients) if (c.queue.length > 0 || c.dropped > 0) this.pump(c);
      // The exact counters, every second when they moved: clients that lost frames stay right.
      if (++ticks % 20 === 0) {
        const now = JSON.stringify(this.counters);
        if (now !== this.lastCounters) {
          this.lastCounters = now;
          this.broadcast({ type: "counters", counters: { ...this.counters } });
        }
      }
    }, 50);
    this.pumpTimer.unref();
    this.following = (async (): Promise<void | Error> => {
      const turn = timeSlice(); // verifying a flood's backlog must not hold the loop the kill switch answers on
      try {
        for await (const m of messages) {
          await turn();
          try {
            await this.onMessage(m.subject, m.data, m.seq);
          } catch {
            /* a frame we could not build is skipped; the recorder has the fact */
          }
        }
        return this.closing ? undefined : new Error("the watch of the stream ended");
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      } finally {
        this.running = false;
      }
    })();
  }

  private async onMessage(subject: string, data: Uint8Array, seq: number): Promise<void> {
    const channel = subjectChannel(subject);
    if (channel !== undefined) {
      const v = await this.verifier.verify(data, subject);
      this.counters.envelopes!++;
      // Only declared channels get their own series: a publisher must not mint unbounded label values.
      this.perChannel.inc({
        channel: this.config.channels.includes(channel) ? channel : "other",
        result: v.ok ? "ok" : "rejected",
      });
      if (v.ok) {
        this.broadcast({ type: "envelope", seq, channel, ok: true, envelope: v.env }, channel);
      } else {
        this.counters.rejected!++;
        this.rejectsByReason.inc({ reason: v.code });
        this.broadcast(
          {
            type: "envelope",
            seq,
            channel: channel.slice(0, 64),
            ok: false,
            code: v.code,
            reason: v.reason,
            envelope: v.env,
          },
          channel,
        );
      }
      return;
    }
    const verdict = this.verifier.checkEvent(data, subject);
    if (!verdict.ok) return; // not from a host of ours: never shown
    const event = verdict.event;
    // An event may stand for several decisions (self-echo drops per window, rate-limited refusals).
    if (event.type in this.counters) this.counters[event.type]! += "count" in event && event.count ? event.count : 1;
    const evChannel = "channel" in event && typeof event.channel === "string" ? event.channel : undefined;
    this.broadcast({ type: "event", seq, event }, evChannel);
  }

  /** Every agent of the config with its current status. */
  agents(): AgentView[] {
    return this.directory.agents();
  }

  /** Register a client; it first gets a hello and the recent backlog for its channels. */
  attach(
    sink: FrameSink,
    options: { role: string; channels?: string[]; queue?: number; maxBuffered?: number },
  ): () => void {
    const client: Client = {
      sink,
      channels: options.channels?.length ? new Set(options.channels) : undefined,
      queue: [],
      dropped: 0,
      limit: options.queue ?? DEFAULT_CLIENT_QUEUE,
      maxBuffered: options.maxBuffered ?? DEFAULT_MAX_BUFFERED,
    };
    this.clients.add(client);
    this.enqueue(
      client,
      JSON.stringify({
        type: "hello",
        role: options.role,
        channels: [...this.config.channels],
        agents: this.agents(),
        counters: { ...this.counters },
      } satisfies WatchFrame),
    );
    for (const b of this.backlog) if (this.wants(client, b.channel)) this.enqueue(client, b.text);
    return () => this.clients.delete(client);
  }

  private wants(c: Client, channel: string | undefined): boolean {
    return !c.channels || channel === undefined || c.channels.has(channel);
  }

  private broadcast(frame: WatchFrame, channel?: string): void {
    const text = JSON.stringify(frame);
    if (frame.type === "envelope" || frame.type === "event") {
      // Replayed to later clients marked as such: they are already in the counters of `hello`.
      this.backlog.push({ text: JSON.stringify({ ...frame, replay: true }), channel });
      if (this.backlog.length > DEFAULT_BACKLOG) this.backlog.shift();
    }
    for (const c of this.clients) if (this.wants(c, channel)) this.enqueue(c, text);
  }

  private enqueue(c: Client, text: string): void {
    if (c.queue.length >= c.limit) {
      c.dropped++;
      this.counters.frames_dropped!++;
      this.framesDropped.inc();
      return;
    }
    c.queue.push(text);
    this.pump(c);
  }

  private pump(c: Client): void {
    if (c.sink.readyState !== 1) return;
    if (c.dropped > 0 && c.sink.bufferedAmount < c.maxBuffered) {
      c.sink.send(JSON.stringify({ type: "dropped", count: c.dropped } satisfies WatchFrame));
      c.dropped = 0;
    }
    while (c.queue.length > 0 && c.sink.bufferedAmount < c.maxBuffered) c.sink.send(c.queue.shift()!);
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Resolves when the hub stops following the stream: undefined after close(), else why (then /readyz says not ready). */
  closed(): Promise<void | Error> {
    return this.following;
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.pumpTimer);
    this.messages?.stop();
    this.directory.close();
    this.clients.clear();
    this.running = false;
  }
}
