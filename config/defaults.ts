// DEFAULTS: every default of agora.yaml, written once. The schema (schema.ts)
// carries them as JSON Schema `default`s and ajv fills them in at load
// (`useDefaults`), so parseConfig never spells a default of its own.
import { DEFAULT_HOP, MAX_ENVELOPE_BYTES } from "../protocol/envelope.js";

export const DEFAULTS = {
  /** State directory: keys/, facts/, nats/. */
  data: ".agora",
  nats: {
    host: "127.0.0.1",
    port: 4222,
    /** nkey: every process logs in with its own key and the server enforces its permissions; none only when chosen. */
    auth: "nkey",
    /** Stream and bucket replicas. */
    replicas: 1,
  },
  host: { name: "host", workers: 2 },
  gateway: {
    host: "127.0.0.1",
    port: 8080,
    identity: "operator",
    /** Open connections at most (watch sockets included): beyond it new ones are refused, so clients cannot exhaust the process's file descriptors. */
    maxConnections: 256,
    /** Failed sign-ins from one address within a minute before it is refused (429) for the rest of that minute. */
    maxFailedLogins: 10,
  },
  github: {
    identity: "github-bridge",
    apiUrl: "https://api.github.com",
    tokenEnv: "GITHUB_TOKEN",
    secretEnv: "GITHUB_WEBHOOK_SECRET",
    host: "127.0.0.1",
    port: 8090,
    /** Webhook bodies above this are refused (413) before they are read whole, let alone HMAC-checked. */
    maxBodyBytes: 1024 * 1024,
  },
  components: {
    /** A canary is rolled back by its host when it traps maxTraps times, or fails failureMargin more often than the current version once it has handled minCalls messages. */
    rollout: { failureMargin: 0.1, minCalls: 20, maxTraps: 3 },
  },
  mcp: {
    /** Send budget `agora mcp` applies before signing when the config gives the identity none. */
    actsPerMinute: 30,
  },
  limits: {
    /** Hop budget of injected messages. */
    hop: DEFAULT_HOP,
    maxEnvelopeBytes: MAX_ENVELOPE_BYTES,
    /** JetStream duplicate window (2 min is too short for slow agents). */
    dedupWindow: "10m",
    factsMaxFileBytes: 16 * 1024 * 1024,
    /** A component call that runs longer is stopped (its worker is replaced). */
    callDeadline: "5s",
    /** Linear-memory cap of each agent instance. */
    agentMemoryMb: 64,
    /** An agent's instance idle this long is dropped and made again from its state in KV on its next message (agents are then instantiated on their first one); 0s keeps every instance. */
    instanceIdle: "0s",
    maxDeliver: 5,
    maxRestarts: 5,
    /** Timers one hosted agent may have waiting at once (timers.after beyond it fails with AGORA_ERR_TIMER_LIMIT). */
    maxTimers: 16,
    restartWindow: "60s",
    restartBackoff: "100ms",
    maxClockSkew: "5m",
    ackWait: "30s",
    /** Older envelopes are not handed to agents: past this, "already processed" can no longer be proven. */
    maxMessageAge: "23h",
    /** Placement lease TTL: a host that stops renewing loses its agents after this long. */
    leaseTtl: "10s",
    /** How often agents renew their cards (presence); a card is offline after three missed heartbeats. */
    heartbeat: "10s",
    /** The AGORA stream keeps messages this long at most; older ones are discarded (the facts keep their record). */
    streamMaxAge: "168h",
    /** …and this many bytes at most: past it the oldest messages are discarded first. */
    streamMaxBytes: 1024 * 1024 * 1024,
    /** Dead letters (AGORA_DLQ) are kept this long and this large at most. */
    dlqMaxAge: "720h",
    dlqMaxBytes: 256 * 1024 * 1024,
  },
} as const;

/** How long processed markers live in KV (not configurable: limits.maxMessageAge must stay below it). */
export const MARKER_TTL_MS = 24 * 3_600_000;
/** The shortest lease TTL: hosts renew every quarter of it. */
export const MIN_LEASE_TTL_MS = 1000;

/** Parse "10m", "30s", "250ms", "2h" into milliseconds; undefined when malformed. */
export function durationMs(text: string): number | undefined {
  const m = /^([0-9]+)(ms|s|m|h)$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
}

/** The default lease TTL in ms. */
export const DEFAULT_LEASE_TTL_MS = durationMs(DEFAULTS.limits.leaseTtl)!;
/** The default per-call deadline in ms. */
export const DEFAULT_CALL_DEADLINE_MS = durationMs(DEFAULTS.limits.callDeadline)!;

/** How long the GitHub bridge remembers deliveries, issue ↔ envelope links and posted comments. */
export const GITHUB_MEMORY_TTL_MS = 30 * 24 * 3_600_000;
