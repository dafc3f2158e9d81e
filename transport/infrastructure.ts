// The stream and KV buckets agora relies on, created or updated idempotently.
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import {
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { AgoraConfig } from "../config/config.js";
import { isNotFound, isNotReady } from "./jetstream-errors.js";
import { sleep } from "./backoff.js";
import { DEFAULT_LEASE_TTL_MS, MARKER_TTL_MS } from "../config/defaults.js";
import {
  AGENTS_BUCKET,
  CONTROL_BUCKET,
  DLQ_STREAM,
  DLQ_SUBJECTS,
  KEYS_BUCKET,
  LEASES_BUCKET,
  PROCESSED_BUCKET,
  STATE_BUCKET,
  STREAM,
  STREAM_SUBJECTS,
} from "../protocol/subjects.js";

/** Handles to everything agora keeps in JetStream. */
export interface Infrastructure {
  js: JetStreamClient;
  jsm: JetStreamManager;
  keys: KV;
  state: KV;
  processed: KV;
  control: KV;
  agents: KV;
  /** Placement leases of agents and heartbeats of hosts (TTL = limits.leaseTtl). */
  leases: KV;
}

export interface InfrastructureOptions {
  dedupWindowMs: number;
  processedTtlMs?: number;
  /** Stream and bucket replicas (3 on a 3-node cluster). @default 1 */
  replicas?: number;
  /** TTL of the leases bucket (used when it is created). @default 10 s */
  leaseTtlMs?: number;
  /** How long to wait for JetStream to become available (a cluster electing its leader). @default 30000 */
  waitMs?: number;
  /** Retention of the AGORA stream and of the dead letters (0: unlimited). @default 0 */
  maxAgeMs?: number;
  maxBytes?: number;
  dlqMaxAgeMs?: number;
  dlqMaxBytes?: number;
}

/** The stream and buckets as `config` describes them (replicas, dedup window, lease TTL). */
export function openInfrastructure(nc: NatsConnection, config: AgoraConfig): Promise<Infrastructure> {
  return ensureInfrastructure(nc, {
    dedupWindowMs: config.limits.dedupWindowMs,
    replicas: config.nats.replicas,
    leaseTtlMs: config.limits.leaseTtlMs,
    maxAgeMs: config.limits.streamMaxAgeMs,
    maxBytes: config.limits.streamMaxBytes,
    dlqMaxAgeMs: config.limits.dlqMaxAgeMs,
    dlqMaxBytes: config.limits.dlqMaxBytes,
  });
}

/**
 * Create (or update) the AGORA stream and the KV buckets. Idempotent. Retries
 * while JetStream is not ready yet, as on a cluster that is still electing its leader.
 */
export async function ensureInfrastructure(
  nc: NatsConnection,
  options: InfrastructureOptions,
): Promise<Infrastructure> {
  const deadline = Date.now() + (options.waitMs ?? 30_000);
  for (;;) {
    try {
      return await createInfrastructure(nc, options);
    } catch (err) {
      if (!isNotReady(err) || Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

/** Age and size limits of a stream: past either, the oldest messages are discarded. */
function retention(maxAgeMs = 0, maxBytes = 0) {
  return { max_age: nanos(maxAgeMs), max_bytes: maxBytes > 0 ? maxBytes : -1, discard: DiscardPolicy.Old };
}

type StreamSettings = Parameters<JetStreamManager["streams"]["add"]>[0] & { name: string };

/** Create `config`'s stream, or bring an existing one's duplicate window and limits to it. */
async function ensureStream(jsm: JetStreamManager, config: StreamSettings): Promise<void> {
  const info = await jsm.streams.info(config.name).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (!info) {
    await jsm.streams.add(config);
    return;
  }
  const c = info.config;
  if (
    c.duplicate_window !== config.duplicate_window ||
    c.max_age !== config.max_age ||
    c.max_bytes !== config.max_bytes ||
    c.discard !== config.discard
  ) {
    await jsm.streams.update(config.name, {
      ...c,
      duplicate_window: config.duplicate_window,
      max_age: config.max_age,
      max_bytes: config.max_bytes,
      discard: config.discard,
    });
  }
}

async function createInfrastructure(nc: NatsConnection, options: InfrastructureOptions): Promise<Infrastructure> {
  const jsm = await jetstreamManager(nc);
  // The channels and decisions, and the dead letters: file-backed, deduplicated, bounded.
  const stream = (name: string, subjects: readonly string[], maxAgeMs?: number, maxBytes?: number): StreamSettings => ({
    name,
    subjects: [...subjects],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: nanos(options.dedupWindowMs),
    num_replicas: options.replicas ?? 1,
    ...retention(maxAgeMs, maxBytes),
  });
  await ensureStream(jsm, stream(STREAM, STREAM_SUBJECTS, options.maxAgeMs, options.maxBytes));
  await ensureStream(jsm, stream(DLQ_STREAM, DLQ_SUBJECTS, options.dlqMaxAgeMs, options.dlqMaxBytes));
  const kvm = new Kvm(nc);
  const replicas = options.replicas ?? 1;
  const [keys, state, processed, control, agents, leases] = await Promise.all([
    kvm.create(KEYS_BUCKET, { history: 1, replicas }),
    kvm.create(STATE_BUCKET, { history: 1, replicas }),
    kvm.create(PROCESSED_BUCKET, { history: 1, ttl: options.processedTtlMs ?? MARKER_TTL_MS, replicas }),
    kvm.create(CONTROL_BUCKET, { history: 5, replicas }),
    kvm.create(AGENTS_BUCKET, { history: 1, replicas }),
    kvm.create(LEASES_BUCKET, { history: 1, ttl: options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS, replicas }),
  ]);
  return { js: jetstream(nc), jsm, keys, state, processed, control, agents, leases };
}
