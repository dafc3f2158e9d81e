// agora.yaml: load, validate against CONFIG_SCHEMA, apply env overrides, freeze.
import { WAL_KEY_PREFIX } from "../protocol/subjects.js";
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import { parse as parseYaml } from "yaml";
import { AgoraError } from "../protocol/errors.js";
import { ADMIN_IDENTITY, RESERVED_IDENTITIES } from "../protocol/names.js";
import type { CardSkill } from "../protocol/cards.js";
import type { Act } from "../protocol/envelope.js";
import { parseComponentRef } from "../protocol/components.js";
import type { RolloutPolicy } from "../protocol/rollout.js";
import { CONFIG_SCHEMA } from "./schema.js";
import type { DEFAULTS } from "./defaults.js";
import { durationMs, MARKER_TTL_MS, MIN_LEASE_TTL_MS } from "./defaults.js";

/** A grant: the channels an agent may read and write. Deny by default. */
export interface Grant {
  read: readonly string[];
  write: readonly string[];
}

export interface HostedAgentConfig extends Grant {
  name: string;
  /** Absolute path of the component's .wasm, or a registry reference `name@version` (protocol/components.ts). */
  component: string;
  /** Linear-memory limit of this agent's instance, in MiB. */
  memoryMb: number;
  /** Its card: what it does, its skills, the acts it answers. */
  description: string;
  skills: readonly CardSkill[];
  answers: readonly Act[];
}

export interface ExternalAgentConfig extends Grant {
  name: string;
  publicKey?: string;
  /** Its key is made in the operator console and registered from there. */
  browser: boolean;
  /** Send budget: at most this many acts in any minute; readers drop the rest (over_budget). */
  actsPerMinute?: number;
}

/** One bridged repository. */
export interface GithubRepoConfig {
  /** "owner/repo" as GitHub spells it. */
  repo: string;
  channel: string;
  /** Label set on the issue when an agent agrees or confirms. */
  decisionLabel?: string;
}

export interface GithubConfig {
  identity: string;
  apiUrl: string;
  /** Env var holding the API token (never stored in config). */
  tokenEnv: string;
  /** Env var holding the webhook secret. */
  secretEnv: string;
  botLogin?: string;
  /** Base URL of the console, for links to facts in comments. */
  consoleUrl: string;
  host: string;
  port: number;
  /** Largest webhook body accepted, in bytes. */
  maxBodyBytes: number;
  repos: readonly GithubRepoConfig[];
}

/** The default channel of a repository: `gh-<owner>-<repo>`, lower-cased, made a valid name. */
export function defaultRepoChannel(repo: string): string {
  const name = `gh-${repo.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`.replace(/-+$/g, "").slice(0, 63);
  return name.replace(/-+$/g, "");
}

/** The validated, frozen configuration. */
export interface AgoraConfig {
  /** The file it came from, or undefined for defaults. */
  file?: string;
  data: string;
  keysDir: string;
  factsDir: string;
  natsStoreDir: string;
  /** `auth: nkey`: every process authenticates to NATS with its identity's key (see agora nats-config). */
  nats: {
    url?: string;
    host: string;
    port: number;
    auth: "none" | "nkey";
    /** Stream and KV replicas. */ replicas: number;
  };
  host: { name: string; workers: number };
  /** All host identities of the deployment (this host's name included). */
  hosts: readonly string[];
  /** The operator edge. Tokens come from here or AGORA_VIEWER_TOKEN / AGORA_OPERATOR_TOKEN. */
  gateway: {
    host: string;
    port: number;
    identity: string;
    viewerToken?: string;
    operatorToken?: string;
    /** Host header names answered: loopback, gateway.host, and gateway.allowedHosts. */
    allowedHosts: readonly string[];
    maxConnections: number;
    maxFailedLogins: number;
  };
  /** The GitHub bridge, when configured. */
  github?: GithubConfig;
  /** Identities whose signed control envelopes (kill, revive) hosts obey. */
  controllers: readonly string[];
  /** The component registry: publishers whose signed components hosts load (name → base64url public key). */
  components: { publishers: Readonly<Record<string, string>>; rollout: Readonly<RolloutPolicy> };
  channels: readonly string[];
  agents: readonly HostedAgentConfig[];
  external: readonly ExternalAgentConfig[];
  limits: {
    hop: number;
    maxEnvelopeBytes: number;
    dedupWindowMs: number;
    factsMaxFileBytes: number;
    /** Per-call deadline of a component's handle. */
    callDeadlineMs: number;
    agentMemoryMb: number;
    /** Instances idle this long are dropped (0: every instance is kept from the start). */
    instanceIdleMs: number;
    /** Attempts of a failing message before it is dead-lettered. */
    maxDeliver: number;
    /** Traps allowed within restartWindowMs before an agent is marked failed. */
    maxRestarts: number;
    /** Timers one hosted agent may have waiting at once. */
    maxTimers: number;
    restartWindowMs: number;
    /** First restart backoff, doubled per restart. */
    restartBackoffMs: number;
    /** How far in the future an envelope's ts may be. */
    maxClockSkewMs: number;
    /** How long JetStream waits for an ack before redelivering (e.g. after a host crash). */
    ackWaitMs: number;
    /** Older envelopes are not handed to agents: past this, "already processed" can no longer be proven. */
    maxMessageAgeMs: number;
    /** An agent's placement lease: a host that stops renewing it loses its agents after this long. */
    leaseTtlMs: number;
    /** How often agents renew their cards. */
    heartbeatMs: number;
    /** Retention of the AGORA stream: age and bytes; the oldest messages go first. */
    streamMaxAgeMs: number;
    streamMaxBytes: number;
    /** Retention of the dead letters (AGORA_DLQ). */
    dlqMaxAgeMs: number;
    dlqMaxBytes: number;
  };
}

/** A hosted agent may not be named this: `wal.<agent>` keys its write-ahead log beside `<agent>.<id>` markers. */
export const RESERVED_AGENT_NAME = WAL_KEY_PREFIX;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, useDefaults: true });
const validate = ajv.compile(CONFIG_SCHEMA);

/** Parse "10m", "30s", "250ms", "2h" into milliseconds; AGORA_ERR_CONFIG when malformed. */
export function parseDuration(text: string): number {
  const ms = durationMs(text);
  if (ms === undefined)
    throw new AgoraError("AGORA_ERR_CONFIG", `bad duration ${JSON.stringify(text)}: use e.g. 250ms, 30s, 10m, 2h`);
  return ms;
}

function describe(err: ErrorObject, source: string): string {
  const path = err.instancePath.split("/").slice(1).join(".") || "(top level)";
  if (err.keyword === "additionalProperties") {
    const key = (err.params as { additionalProperty: string }).additionalProperty;
    return `${source}: ${path === "(top level)" ? key : `${path}.${key}`}: unknown key or invalid name`;
  }
  return `${source}: ${path}: ${err.message ?? "invalid"}`;
}

type Mutable<T> = {
  -readonly [K in keyof T]: T[K] extends string ? string : T[K] extends number ? number : Mutable<T[K]>;
};
type Limits = Mutable<typeof DEFAULTS.limits>;

/** The config file after validation: every defaulted key is filled in. */
interface RawConfig {
  data: string;
  nats: { url?: string; host: string; port: number; auth: "none" | "nkey"; replicas: number };
  host: { name: string; workers: number };
  hosts?: string[];
  components: { publishers?: Record<string, string>; rollout: RolloutPolicy };
  gateway: Omit<AgoraConfig["gateway"], "allowedHosts"> & { allowedHosts?: string[] };
  github?: Mutable<typeof DEFAULTS.github> & {
    botLogin?: string;
    consoleUrl?: string;
    repos: Record<string, { channel?: string; decisionLabel?: string } | null>;
  };
  channels?: Record<string, unknown>;
  agents?: Record<
    string,
    {
      component: string;
      read?: string[];
      write?: string[];
      memoryMb?: number;
      description?: string;
      skills?: { id: string; name?: string; description: string; tags?: string[] }[];
      answers?: Act[];
    }
  >;
  external?: Record<
    string,
    { publicKey?: string; browser?: boolean; read?: string[]; write?: string[]; actsPerMinute?: number } | null
  >;
  limits: Limits;
}

/**
 * Validate a parsed config object. `baseDir` resolves relative paths; `env`
 * supplies overrides (NATS_URL, AGORA_DATA, AGORA_NATS_AUTH, AGORA_HOST_NAME, AGORA_*_TOKEN).
 */
export function parseConfig(
  raw: unknown,
  options: { baseDir: string; file?: string; env?: NodeJS.ProcessEnv },
): AgoraConfig {
  const source = options.file ?? "config";
  // Validation fills in the defaults: work on a copy, never on the caller's object.
  let value: unknown;
  try {
    value = structuredClone(raw ?? {});
  } catch (cause) {
    throw new AgoraError("AGORA_ERR_CONFIG", `${source}: not plain data (${(cause as Error).message})`, { cause });
  }
  if (!validate(value)) {
    const messages = (validate.errors ?? []).map((e) => describe(e, source));
    throw new AgoraError("AGORA_ERR_CONFIG", messages.join("\n"));
  }
  const c = value as RawConfig;
  const env = options.env ?? {};
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(options.baseDir, p));
  const data = abs(env.AGORA_DATA ?? c.data);
  const channels = Object.keys(c.channels ?? {});
  const known = new Set(channels);
  const checkGrants = (who: string, g: { read?: string[]; write?: string[] }) => {
    for (const dir of ["read", "write"] as const) {
      for (const ch of g[dir] ?? []) {
        if (!known.has(ch)) {
          throw new AgoraError(
            "AGORA_ERR_CONFIG",
            `${source}: ${who}.${dir}: channel ${ch} is not declared under channels`,
          );
        }
      }
    }
  };
  // The recorder and the admin identity log in to NATS under their own names.
  const reserved = (where: string, name: string) => {
    // Processed markers `<agent>.<id>` share a bucket with the write-ahead logs `wal.<agent>`.
    if (name === RESERVED_AGENT_NAME) {
      throw new AgoraError(
        "AGORA_ERR_CONFIG",
        `${source}: ${where}: the name ${name} is reserved (write-ahead logs are kept under it)`,
      );
    }
    if (RESERVED_IDENTITIES.includes(name)) {
      throw new AgoraError(
        "AGORA_ERR_CONFIG",
        `${source}: ${where}: the name ${name} is reserved for agora's own ${name === ADMIN_IDENTITY ? "admin" : "facts recorder"} identity`,
      );
    }
  };
  const agents = Object.entries(c.agents ?? {}).map(([name, a]) => {
    reserved(`agents.${name}`, name);
    checkGrants(`agents.${name}`, a);
    return Object.freeze({
      name,
      component: parseComponentRef(a.component) ? a.component : abs(a.component),
      read: Object.freeze([...(a.read ?? [])]),
      write: Object.freeze([...(a.write ?? [])]),
      memoryMb: a.memoryMb ?? c.limits.agentMemoryMb,
      description: a.description ?? "",
      skills: Object.freeze((a.skills ?? []).map((k) => ({ ...k, name: k.name ?? k.id }))),
      answers: Object.freeze([...(a.answers ?? [])]),
    });
  });
  const external = Object.entries(c.external ?? {}).map(([name, a]) => {
    reserved(`external.${name}`, name);
    const g = a ?? {};
    checkGrants(`external.${name}`, g);
    if (c.agents?.[name])
      throw new AgoraError("AGORA_ERR_CONFIG", `${source}: external.${name}: also declared under agents`);
    return Object.freeze({
      name,
      publicKey: g.publicKey,
      browser: g.browser ?? false,
      read: Object.freeze([...(g.read ?? [])]),
      write: Object.freeze([...(g.write ?? [])]),
      ...(g.actsPerMinute !== undefined ? { actsPerMinute: g.actsPerMinute } : {}),
    });
  });
  let github: GithubConfig | undefined;
  if (c.github) {
    const gh = c.github;
    const repos = Object.entries(gh.repos).map(([repo, r]) => {
      const channel = r?.channel ?? defaultRepoChannel(repo);
      if (!known.has(channel))
        throw new AgoraError(
          "AGORA_ERR_CONFIG",
          `${source}: github.repos.${repo}: channel ${channel} is not declared under channels`,
        );
      return Object.freeze({ repo, channel, decisionLabel: r?.decisionLabel });
    });
    const ext = external.find((e) => e.name === gh.identity);
    for (const r of repos) {
      if (!ext?.read.includes(r.channel) || !ext.write.includes(r.channel)) {
        throw new AgoraError(
          "AGORA_ERR_CONFIG",
          `${source}: github: the bridge identity ${gh.identity} needs external.${gh.identity}.read and .write to include ${r.channel}`,
        );
      }
    }
    github = Object.freeze({
      identity: gh.identity,
      apiUrl: gh.apiUrl.replace(/\/+$/, ""),
      tokenEnv: gh.tokenEnv,
      secretEnv: gh.secretEnv,
      botLogin: gh.botLogin,
      consoleUrl: (gh.consoleUrl ?? `http://${c.gateway.host}:${c.gateway.port}`).replace(/\/+$/, ""),
      host: gh.host,
      port: gh.port,
      maxBodyBytes: gh.maxBodyBytes,
      repos: Object.freeze(repos),
    });
  }
  const l = c.limits;
  const leaseTtlMs = parseDuration(l.leaseTtl);
  if (leaseTtlMs < MIN_LEASE_TTL_MS) {
    throw new AgoraError(
      "AGORA_ERR_CONFIG",
      `${source}: limits.leaseTtl: at least ${MIN_LEASE_TTL_MS / 1000}s (hosts renew their leases every quarter of it)`,
    );
  }
  const maxMessageAgeMs = parseDuration(l.maxMessageAge);
  if (maxMessageAgeMs > MARKER_TTL_MS - 3_600_000) {
    throw new AgoraError(
      "AGORA_ERR_CONFIG",
      `${source}: limits.maxMessageAge: at most ${MARKER_TTL_MS / 3_600_000 - 1}h (processed markers live ${MARKER_TTL_MS / 3_600_000} h)`,
    );
  }
  const streamMaxAgeMs = parseDuration(l.streamMaxAge);
  const floor = Math.max(parseDuration(l.dedupWindow), maxMessageAgeMs);
  if (streamMaxAgeMs < floor) {
    throw new AgoraError(
      "AGORA_ERR_CONFIG",
      `${source}: limits.streamMaxAge: at least limits.dedupWindow and limits.maxMessageAge (${floor / 3_600_000} h): a message must outlive its duplicate window and its age limit`,
    );
  }
  const hostName = env.AGORA_HOST_NAME || c.host.name;
  for (const [where, name] of [
    ["host.name", hostName],
    ["gateway.identity", c.gateway.identity],
    ...(github ? [["github.identity", github.identity]] : []),
    ...(c.hosts ?? []).map((h) => ["hosts", h]),
  ] as const)
    reserved(where, name);
  const config: AgoraConfig = {
    file: options.file,
    data,
    keysDir: resolve(data, "keys"),
    factsDir: resolve(data, "facts"),
    natsStoreDir: resolve(data, "nats"),
    nats: Object.freeze({
      url: env.NATS_URL || c.nats.url,
      host: c.nats.host,
      port: c.nats.port,
      auth: (env.AGORA_NATS_AUTH as "none" | "nkey" | undefined) || c.nats.auth,
      replicas: c.nats.replicas,
    }),
    host: Object.freeze({ name: hostName, workers: c.host.workers }),
    hosts: Object.freeze([...new Set([hostName, ...(c.hosts ?? [])])]),
    gateway: Object.freeze({
      host: c.gateway.host,
      port: c.gateway.port,
      identity: c.gateway.identity,
      viewerToken: env.AGORA_VIEWER_TOKEN || c.gateway.viewerToken,
      operatorToken: env.AGORA_OPERATOR_TOKEN || c.gateway.operatorToken,
      allowedHosts: Object.freeze([
        ...new Set(
          ["127.0.0.1", "localhost", "::1", c.gateway.host, ...(c.gateway.allowedHosts ?? [])].map((h) =>
            h.toLowerCase(),
          ),
        ),
      ]),
      maxConnections: c.gateway.maxConnections,
      maxFailedLogins: c.gateway.maxFailedLogins,
    }),
    controllers: Object.freeze([c.gateway.identity]),
    components: Object.freeze({
      publishers: Object.freeze({ ...(c.components.publishers ?? {}) }),
      rollout: Object.freeze({ ...c.components.rollout }),
    }),
    github,
    channels: Object.freeze(channels),
    agents: Object.freeze(agents),
    external: Object.freeze(external),
    limits: Object.freeze({
      hop: l.hop,
      maxEnvelopeBytes: l.maxEnvelopeBytes,
      dedupWindowMs: parseDuration(l.dedupWindow),
      factsMaxFileBytes: l.factsMaxFileBytes,
      callDeadlineMs: parseDuration(l.callDeadline),
      agentMemoryMb: l.agentMemoryMb,
      instanceIdleMs: parseDuration(l.instanceIdle),
      maxDeliver: l.maxDeliver,
      maxRestarts: l.maxRestarts,
      maxTimers: l.maxTimers,
      restartWindowMs: parseDuration(l.restartWindow),
      restartBackoffMs: parseDuration(l.restartBackoff),
      maxClockSkewMs: parseDuration(l.maxClockSkew),
      ackWaitMs: parseDuration(l.ackWait),
      maxMessageAgeMs,
      leaseTtlMs,
      heartbeatMs: parseDuration(l.heartbeat),
      streamMaxAgeMs,
      streamMaxBytes: l.streamMaxBytes,
      dlqMaxAgeMs: parseDuration(l.dlqMaxAge),
      dlqMaxBytes: l.dlqMaxBytes,
    }),
  };
  return Object.freeze(config);
}

/** Read and validate a config file (default: $AGORA_CONFIG or ./agora.yaml). */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): AgoraConfig {
  const path = resolve(file ?? env.AGORA_CONFIG ?? "agora.yaml");
  if (!existsSync(path)) {
    throw new AgoraError("AGORA_ERR_CONFIG", `no config at ${path}; pass --config FILE or set AGORA_CONFIG`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new AgoraError("AGORA_ERR_CONFIG", `${path}: not valid YAML: ${(cause as Error).message}`, { cause });
  }
  return parseConfig(raw, { baseDir: dirname(path), file: path, env });
}

/** Everything a named agent may do, hosted or external; undefined if unknown. */
export function grantOf(config: AgoraConfig, agent: string): Grant | undefined {
  return config.agents.find((a) => a.name === agent) ?? config.external.find((a) => a.name === agent);
}

/**
 * Whether a kill of `name` also stops what it sends: an external identity or
 * the bridge — not a hosted agent (its host stops it) and never a controller
 * (the operator's own kill switch must keep working).
 */
export function senderKillable(config: AgoraConfig, name: string): boolean {
  if (config.controllers.includes(name) || config.agents.some((a) => a.name === name)) return false;
  return config.external.some((e) => e.name === name) || config.github?.identity === name;
}

/** Whether a kill can name `name`: a hosted agent, or an identity whose sends it stops (not the operator's own). */
export function killTarget(config: AgoraConfig, name: string): boolean {
  return config.agents.some((a) => a.name === name) || senderKillable(config, name);
}

/** Host events may only come from the system's own identities: hosts, the gateway, the bridge. */
export function systemIdentities(config: AgoraConfig): Set<string> {
  return new Set([
    config.host.name,
    ...config.hosts,
    config.gateway.identity,
    ...(config.github ? [config.github.identity] : []),
  ]);
}
