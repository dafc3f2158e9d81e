// NATS plumbing: connect, and the stream and KV buckets agora relies on.
import { connect, nanos, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import type { Identity } from "../trust/key-store.js";
import { userSeed } from "../trust/nkeys.js";
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { AgoraConfig } from "../config/config.js";
import { AgoraError } from "../protocol/errors.js";
import { DEFAULT_LEASE_TTL_MS, MARKER_TTL_MS } from "../config/defaults.js";
import { AGENTS_BUCKET, CONTROL_BUCKET, DLQ_STREAM, DLQ_SUBJECTS, KEYS_BUCKET, LEASES_BUCKET, PROCESSED_BUCKET, STATE_BUCKET, STREAM, STREAM_SUBJECTS } from "../protocol/subjects.js";

export interface ConnectOptions {
  url: string;
  name: string;
  /** Authenticate with this identity's key as a NATS nkey. */
  identity?: Identity;
  /** Give up after this many ms on the first connect. @default 5000 */
  timeoutMs?: number;
}

/** Connect with unlimited reconnects; AGORA_ERR_NATS_CONNECT on failure to reach the server. */
export async function connectNats(options: ConnectOptions): Promise<NatsConnection> {
  try {
    return await connect({
      servers: options.url.split(",").map((u) => u.trim()).filter(Boolean),
      name: options.name,
      timeout: options.timeoutMs ?? 5000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...(options.identity ? { authenticator: nkeyAuthenticator(userSeed(options.identity.seed)) } : {}),
    });
  } catch (cause) {
    throw new AgoraError(
      "AGORA_ERR_NATS_CONNECT",
      `cannot connect to NATS at ${options.url}: ${(cause as Error).message}; start one with 'agora up' or unset NATS_URL`,
      { cause },
    );
  }
}

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
}

/** The stream and buckets as `config` describes them (replicas, dedup window, lease TTL). */
export function openInfrastructure(nc: NatsConnection, config: AgoraConfig): Promise<Infrastructure> {
  return ensureInfrastructure(nc, { dedupWindowMs: config.limits.dedupWindowMs, replicas: config.nats.replicas, leaseTtlMs: config.limits.leaseTtlMs });
}

/** Errors that mean "JetStream is not ready yet" (cluster forming, leader election). */
function notReady(err: unknown): boolean {
  return /temporarily unavailable|503|no responders|timeout|TIMEOUT|insufficient resources|no suitable peers/i.test(String((err as Error)?.message ?? err));
}

/**
 * Create (or update) the AGORA stream and the KV buckets. Idempotent. Retries
 * while JetStream is not ready yet, as on a cluster that is still electing its leader.
 */
export async function ensureInfrastructure(nc: NatsConnection, options: InfrastructureOptions): Promise<Infrastructure> {
  const deadline = Date.now() + (options.waitMs ?? 30_000);
  for (;;) {
    try {
      return await createInfrastructure(nc, options);
    } catch (err) {
      if (!notReady(err) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function createInfrastructure(nc: NatsConnection, options: InfrastructureOptions): Promise<Infrastructure> {
  const jsm = await jetstreamManager(nc);
  const config = {
    name: STREAM,
    subjects: [...STREAM_SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: nanos(options.dedupWindowMs),
    num_replicas: options.replicas ?? 1,
  };
  try {
    const info = await jsm.streams.info(STREAM);
    if (info.config.duplicate_window !== config.duplicate_window) {
      await jsm.streams.update(STREAM, { ...info.config, duplicate_window: config.duplicate_window });
    }
  } catch {
    await jsm.streams.add(config);
  }
  try {
    await jsm.streams.info(DLQ_STREAM);
  } catch {
    await jsm.streams.add({ name: DLQ_STREAM, subjects: [...DLQ_SUBJECTS], storage: StorageType.File, duplicate_window: nanos(options.dedupWindowMs), num_replicas: options.replicas ?? 1 });
  }
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
