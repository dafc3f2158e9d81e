// Metrics: Prometheus counters and histograms, rendered in text exposition format.
import { EVENTS, type EventSpec, type HostEvent } from "../protocol/events.js";

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`,
  );
  return parts.length ? `{${parts.join(",")}}` : "";
}

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const v = this.values.get(key);
    if (v) v.value += by;
    else this.values.set(key, { labels, value: by });
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join("\n");
  }
}

/** Seconds buckets from 100 µs to 10 s. */
export const DEFAULT_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 10];

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets = DEFAULT_BUCKETS,
  ) {}

  observe(labels: Labels, value: number): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) =>
        lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}`),
      );
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join("\n");
  }
}

/** A set of metrics rendered together. */
export class MetricsRegistry {
  private readonly metrics: Metric[] = [];

  counter(name: string, help: string): Counter {
    const c = new Counter(name, help);
    this.metrics.push(c);
    return c;
  }

  histogram(name: string, help: string, buckets?: number[]): Histogram {
    const h = new Histogram(name, help, buckets);
    this.metrics.push(h);
    return h;
  }

  render(): string {
    return `${this.metrics.map((m) => m.render()).join("\n")}\n`;
  }
}

/** The host's metrics. Events move them (observe); the drop label comes from the event table. */
export class HostMetrics {
  readonly registry = new MetricsRegistry();
  readonly messagesIn = this.registry.counter("agora_messages_in_total", "Messages handed to components, by channel");
  readonly messagesOut = this.registry.counter(
    "agora_messages_out_total",
    "Messages components emitted (published by the host), by channel",
  );
  readonly rejects = this.registry.counter(
    "agora_rejects_total",
    "Messages rejected by the first control, by reason code",
  );
  readonly drops = this.registry.counter(
    "agora_drops_total",
    "Messages or emissions dropped by a control (echo, hop, blocked, duplicate, killed)",
  );
  readonly failures = this.registry.counter(
    "agora_component_failures_total",
    "Component calls that trapped or returned an error, by agent",
  );
  readonly handleSeconds = this.registry.histogram(
    "agora_handle_seconds",
    "Time from a delivery starting to its effects committed, by agent",
  );

  /** Count what an event says happened. */
  observe(event: HostEvent): void {
    const drop = (EVENTS[event.type] as EventSpec).drop;
    if (drop) this.drops.inc({ control: drop }, event.type === "hop_exhausted" ? event.dropped : 1);
    if (event.type === "delivered") this.messagesIn.inc({ channel: event.channel });
    else if (event.type === "emitted") this.messagesOut.inc({ channel: event.channel });
    else if (event.type === "rejected") this.rejects.inc({ reason: event.code });
    else if (event.type === "failed") this.failures.inc({ agent: event.agent });
  }
}
