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
import { AgoraError } from "../protocol/errors.js";
import { ADMIN_IDENTITY } from "../protocol/names.js";
import { sleep } from "./backoff.js";
import { ComponentRegistry } from "./component-registry.js";
import { StreamPublisher } from "./publisher.js";
import { DEFAULT_LEASE_TTL_MS, GITHUB_MEMORY_TTL_MS, MARKER_TTL_MS } from "../config/defaults.js";
import {
  AGENTS_BUCKET,
  AGORA_BUCKETS,
  CARDS_BUCKET,
  TIMERS_BUCKET,
  CONVS_BUCKET,
  DEPLOYS_BUCKET,
  ROLLOUTS_BUCKET,
  CONTROL_BUCKET,
  DLQ_STREAM,
  DLQ_SUBJECTS,
  GITHUB_BUCKET,
  KEYS_BUCKET,
  kvStream,
  LEASES_BUCKET,
  PROCESSED_BUCKET,
  STATE_BUCKET,
  STREAM,
  STREAM_SUBJECTS,
} from "../protocol/subjects.js";

/** Handles to everything agora keeps in JetStream. */
export interface Infrastructure {
  js: JetStreamClient;
  /** Publishes to the stream (envelopes, events, claims): the connection's StreamPublisher. */
  publisher: StreamPublisher;
  jsm: JetStreamManager;
  keys: KV;
  state: KV;
  processed: KV;
  control: KV;
  agents: KV;
  /** Placement leases of agents and heartbeats of hosts (TTL = limits.leaseTtl). */
  leases: KV;
  /** Agent cards: presence, skills, what each reads, writes and answers. */
  cards: KV;
  /** Hosted agents' timers waiting to fire. */
  timers: KV;
  /** Cancelled conversations (the recorder writes them, every reader follows them). */
  convs: KV;
  /** Deployed components per agent (agora deploy): hosts follow them. */
  deploys: KV;
  /** How canary rollouts go (agora-rollouts), written by the host running each agent. */
  rollouts: KV;
  /** The GitHub bridge's memory, when a bridge is configured. */
  github?: KV;
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
  /**
   * Create or update the stream and buckets (the admin identity), or only bind
   * to them and wait until they exist (every other identity: with the generated
   * authorization it may not change them). @default true
   */
  create?: boolean;
  /** Also the GitHub bridge's bucket. @default false */
  github?: boolean;
}

/**
 * The stream and buckets as `config` describes them (replicas, dedup window,
 * lease TTL): bound to (the default), or created and updated with `create`,
 * which only the admin identity may do.
 */
export function openInfrastructure(
  nc: NatsConnection,
  config: AgoraConfig,
  options: { create?: boolean; waitMs?: number } = {},
): Promise<Infrastructure> {
  return ensureInfrastructure(nc, {
    ...options,
    create: options.create ?? false,
    github: config.github !== undefined,
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
  const waitMs = options.waitMs ?? 30_000;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return options.create === false ? await bindInfrastructure(nc, options) : await createInfrastructure(nc, options);
    } catch (err) {
      if (!(isNotReady(err) || (options.create === false && isNotFound(err))) || Date.now() > deadline) {
        if (isNotFound(err)) {
          throw new AgoraError(
            "AGORA_ERR_INFRA_MISSING",
            `agora's stream and buckets are not there after ${waitMs / 1000} s: start 'agora up', or run 'agora host' once where the ${ADMIN_IDENTITY} key is (it creates them)`,
            { cause: err },
          );
        }
        throw err;
      }
      await sleep(500);
    }
  }
}

/** Handles on the stream and buckets once they all exist; nothing is created or changed. */
async function bindInfrastructure(nc: NatsConnection, options: InfrastructureOptions): Promise<Infrastructure> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.info(STREAM);
  const kvm = new Kvm(nc);
  // In the order of AGORA_BUCKETS.
  const buckets = await Promise.all(AGORA_BUCKETS.map((b) => kvm.open(b, { allow_direct: true })));
  // A handle is bound without a round trip; one status call proves the bucket is there.
  await buckets[0]!.status();
  const github = options.github ? await kvm.open(GITHUB_BUCKET, { allow_direct: true }) : undefined;
  return handles(nc, jsm, buckets, github);
}

/** The handles, from the buckets in the order of AGORA_BUCKETS. */
function handles(nc: NatsConnection, jsm: JetStreamManager, buckets: KV[], github: KV | undefined): Infrastructure {
  const [keys, state, processed, control, agents, leases, cards, timers, convs, deploys, rollouts] = buckets as [
    KV,
    KV,
    KV,
    KV,
    KV,
    KV,
    KV,
    KV,
    KV,
    KV,
    KV,
  ];
  return {
    js: jetstream(nc),
    publisher: StreamPublisher.for(nc),
    jsm,
    keys,
    state,
    processed,
    control,
    agents,
    leases,
    cards,
    timers,
    convs,
    deploys,
    rollouts,
    github,
  };
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
  // In the order of AGORA_BUCKETS.
  const buckets = await Promise.all([
    kvm.create(KEYS_BUCKET, { history: 1, replicas }),
    kvm.create(STATE_BUCKET, { history: 1, replicas }),
    kvm.create(PROCESSED_BUCKET, { history: 1, ttl: options.processedTtlMs ?? MARKER_TTL_MS, replicas }),
    kvm.create(CONTROL_BUCKET, { history: 5, replicas }),
    kvm.create(AGENTS_BUCKET, { history: 1, replicas }),
    kvm.create(LEASES_BUCKET, { history: 1, ttl: options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS, replicas }),
    kvm.create(CARDS_BUCKET, { history: 1, replicas }),
    kvm.create(TIMERS_BUCKET, { history: 1, replicas }),
    // A cancel outlives every message it can still drop: one older than a marker is refused for its age.
    kvm.create(CONVS_BUCKET, { history: 1, ttl: options.processedTtlMs ?? MARKER_TTL_MS, replicas }),
    kvm.create(DEPLOYS_BUCKET, { history: 5, replicas }),
    kvm.create(ROLLOUTS_BUCKET, { history: 1, replicas }),
  ]);
  // The component registry: made here, opened by hosts only when an agent names a registry component.
  await ComponentRegistry.open(nc, { create: true, replicas });
  const github = options.github
    ? await kvm.create(GITHUB_BUCKET, { history: 1, ttl: GITHUB_MEMORY_TTL_MS, replicas })
    : undefined;
  // A KV put may carry `Nats-Rollup: all`, which erases every other key of the bucket, and permissions
  // cannot see headers: so no bucket allows rollups (nats.js turns them on at each create; agora never purges).
  for (const b of [...AGORA_BUCKETS, ...(options.github ? [GITHUB_BUCKET] : [])]) {
    const info = await jsm.streams.info(kvStream(b));
    if (info.config.allow_rollup_hdrs)
      await jsm.streams.update(kvStream(b), { ...info.config, allow_rollup_hdrs: false });
  }
  return handles(nc, jsm, buckets, github);
}
