// agora.yaml: load, validate against CONFIG_SCHEMA, apply env overrides, freeze.
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import { parse as parseYaml } from "yaml";
import { AgoraError } from "./errors.js";
import { CONFIG_SCHEMA } from "./config-schema.js";
import { MAX_HOP } from "./envelope.js";

/** A grant: the channels an agent may read and write. Deny by default. */
export interface Grant {
  read: readonly string[];
  write: readonly string[];
}

export interface HostedAgentConfig extends Grant {
  name: string;
  /** Absolute path of the component's .wasm. */
  component: string;
  /** Linear-memory limit of this agent's instance, in MiB. */
  memoryMb: number;
}

export interface ExternalAgentConfig extends Grant {
  name: string;
  publicKey?: string;
  /** Its key is made in the operator console and registered from there. */
  browser: boolean;
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
  nats: { url?: string; host: string; port: number; auth: "none" | "nkey"; /** Stream and KV replicas. */ replicas: number };
  host: { name: string; workers: number };
  /** All host identities of the deployment (this host's name included). */
  hosts: readonly string[];
  /** The operator edge. Tokens come from here or AGORA_VIEWER_TOKEN / AGORA_OPERATOR_TOKEN. */
  gateway: { host: string; port: number; identity: string; viewerToken?: string; operatorToken?: string };
  /** The GitHub bridge, when configured. */
  github?: GithubConfig;
  /** Identities whose signed control envelopes (kill, revive) hosts obey. */
  controllers: readonly string[];
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
    /** Attempts of a failing message before it is dead-lettered. */
    maxDeliver: number;
    /** Traps allowed within restartWindowMs before an agent is marked failed. */
    maxRestarts: number;
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
  };
}

export const DEFAULT_HOP = 3;
export const DEFAULT_DEDUP_WINDOW = "10m";
export const DEFAULT_FACTS_MAX_FILE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_NATS_PORT = 4222;
export const DEFAULT_GATEWAY_PORT = 8080;
export const DEFAULT_AGENT_MEMORY_MB = 64;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(CONFIG_SCHEMA);

/** Parse "10m", "30s", "250ms", "2h" into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^([0-9]+)(ms|s|m|h)$/.exec(text);
  if (!m) throw new AgoraError("AGORA_ERR_CONFIG", `bad duration ${JSON.stringify(text)}: use e.g. 250ms, 30s, 10m, 2h`);
  const n = Number(m[1]);
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
}

function describe(err: ErrorObject, source: string): string {
  const path = err.instancePath.split("/").slice(1).join(".") || "(top level)";
  if (err.keyword === "additionalProperties") {
    const key = (err.params as { additionalProperty: string }).additionalProperty;
    return `${source}: ${path === "(top level)" ? key : `${path}.${key}`}: unknown key or invalid name`;
  }
  return `${source}: ${path}: ${err.message ?? "invalid"}`;
}

/**
 * Validate a parsed config object. `baseDir` resolves relative paths; `env`
 * supplies overrides (NATS_URL, AGORA_DATA).
 */
export function parseConfig(raw: unknown, options: { baseDir: string; file?: string; env?: NodeJS.ProcessEnv }): AgoraConfig {
  const source = options.file ?? "config";
  const value = raw ?? {};
  if (!validate(value)) {
    const messages = (validate.errors ?? []).map((e) => describe(e, source));
    throw new AgoraError("AGORA_ERR_CONFIG", messages.join("\n"));
  }
  const c = value as {
    data?: string;
    nats?: { url?: string; host?: string; port?: number; auth?: "none" | "nkey"; replicas?: number };
    host?: { name?: string; workers?: number };
    hosts?: string[];
    gateway?: { host?: string; port?: number; identity?: string; viewerToken?: string; operatorToken?: string };
    github?: {
      identity?: string; apiUrl?: string; tokenEnv?: string; secretEnv?: string; botLogin?: string; consoleUrl?: string;
      host?: string; port?: number; repos: Record<string, { channel?: string; decisionLabel?: string } | null>;
    };
    channels?: Record<string, unknown>;
    agents?: Record<string, { component: string; read?: string[]; write?: string[]; memoryMb?: number }>;
    external?: Record<string, { publicKey?: string; browser?: boolean; read?: string[]; write?: string[] } | null>;
    limits?: {
      hop?: number; maxEnvelopeBytes?: number; dedupWindow?: string; factsMaxFileBytes?: number; callDeadline?: string; agentMemoryMb?: number;
      maxDeliver?: number; maxRestarts?: number; restartWindow?: string; restartBackoff?: string; maxClockSkew?: string; ackWait?: string; maxMessageAge?: string; leaseTtl?: string;
    };
  };
  const env = options.env ?? {};
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(options.baseDir, p));
  const data = abs(env.AGORA_DATA ?? c.data ?? ".agora");
  const channels = Object.keys(c.channels ?? {});
  const known = new Set(channels);
  const checkGrants = (who: string, g: { read?: string[]; write?: string[] }) => {
    for (const dir of ["read", "write"] as const) {
      for (const ch of g[dir] ?? []) {
        if (!known.has(ch)) {
          throw new AgoraError("AGORA_ERR_CONFIG", `${source}: ${who}.${dir}: channel ${ch} is not declared under channels`);
        }
      }
    }
  };
  const agents = Object.entries(c.agents ?? {}).map(([name, a]) => {
    checkGrants(`agents.${name}`, a);
    return Object.freeze({
      name,
      component: abs(a.component),
      read: Object.freeze([...(a.read ?? [])]),
      write: Object.freeze([...(a.write ?? [])]),
      memoryMb: a.memoryMb ?? c.limits?.agentMemoryMb ?? DEFAULT_AGENT_MEMORY_MB,
    });
  });
  const external = Object.entries(c.external ?? {}).map(([name, a]) => {
    const g = a ?? {};
    checkGrants(`external.${name}`, g);
    if (c.agents?.[name]) throw new AgoraError("AGORA_ERR_CONFIG", `${source}: external.${name}: also declared under agents`);
    return Object.freeze({ name, publicKey: g.publicKey, browser: g.browser ?? false, read: Object.freeze([...(g.read ?? [])]), write: Object.freeze([...(g.write ?? [])]) });
  });
  let github: GithubConfig | undefined;
  if (c.github) {
    const identity = c.github.identity ?? "github-bridge";
    const repos = Object.entries(c.github.repos).map(([repo, r]) => {
      const channel = r?.channel ?? defaultRepoChannel(repo);
      if (!known.has(channel)) throw new AgoraError("AGORA_ERR_CONFIG", `${source}: github.repos.${repo}: channel ${channel} is not declared under channels`);
      return Object.freeze({ repo, channel, decisionLabel: r?.decisionLabel });
    });
    const ext = external.find((e) => e.name === identity);
    for (const r of repos) {
      if (!ext?.read.includes(r.channel) || !ext.write.includes(r.channel)) {
        throw new AgoraError("AGORA_ERR_CONFIG", `${source}: github: the bridge identity ${identity} needs external.${identity}.read and .write to include ${r.channel}`);
      }
    }
    github = Object.freeze({
      identity,
      apiUrl: (c.github.apiUrl ?? "https://api.github.com").replace(/\/+$/, ""),
      tokenEnv: c.github.tokenEnv ?? "GITHUB_TOKEN",
      secretEnv: c.github.secretEnv ?? "GITHUB_WEBHOOK_SECRET",
      botLogin: c.github.botLogin,
      consoleUrl: (c.github.consoleUrl ?? `http://${c.gateway?.host ?? "127.0.0.1"}:${c.gateway?.port ?? DEFAULT_GATEWAY_PORT}`).replace(/\/+$/, ""),
      host: c.github.host ?? "127.0.0.1",
      port: c.github.port ?? 8090,
      repos: Object.freeze(repos),
    });
  }
  if (parseDuration(c.limits?.leaseTtl ?? "10s") < 1000) {
    throw new AgoraError("AGORA_ERR_CONFIG", `${source}: limits.leaseTtl: at least 1s (hosts renew their leases every quarter of it)`);
  }
  if (parseDuration(c.limits?.maxMessageAge ?? "23h") > 23 * 3_600_000) {
    throw new AgoraError("AGORA_ERR_CONFIG", `${source}: limits.maxMessageAge: at most 23h (processed markers live 24 h)`);
  }
  const hop = c.limits?.hop ?? DEFAULT_HOP;
  if (hop > MAX_HOP) throw new AgoraError("AGORA_ERR_CONFIG", `${source}: limits.hop: at most ${MAX_HOP}`);
  const config: AgoraConfig = {
    file: options.file,
    data,
    keysDir: resolve(data, "keys"),
    factsDir: resolve(data, "facts"),
    natsStoreDir: resolve(data, "nats"),
    nats: Object.freeze({
      url: env.NATS_URL || c.nats?.url,
      host: c.nats?.host ?? "127.0.0.1",
      port: c.nats?.port ?? DEFAULT_NATS_PORT,
      auth: (env.AGORA_NATS_AUTH as "none" | "nkey" | undefined) || c.nats?.auth || "none",
      replicas: c.nats?.replicas ?? 1,
    }),
    host: Object.freeze({ name: env.AGORA_HOST_NAME || c.host?.name || "host", workers: c.host?.workers ?? 2 }),
    hosts: Object.freeze([...new Set([env.AGORA_HOST_NAME || c.host?.name || "host", ...(c.hosts ?? [])])]),
    gateway: Object.freeze({
      host: c.gateway?.host ?? "127.0.0.1",
      port: c.gateway?.port ?? DEFAULT_GATEWAY_PORT,
      identity: c.gateway?.identity ?? "operator",
      viewerToken: env.AGORA_VIEWER_TOKEN || c.gateway?.viewerToken,
      operatorToken: env.AGORA_OPERATOR_TOKEN || c.gateway?.operatorToken,
    }),
    controllers: Object.freeze([c.gateway?.identity ?? "operator"]),
    github,
    channels: Object.freeze(channels),
    agents: Object.freeze(agents),
    external: Object.freeze(external),
    limits: Object.freeze({
      hop,
      maxEnvelopeBytes: c.limits?.maxEnvelopeBytes ?? 65536,
      dedupWindowMs: parseDuration(c.limits?.dedupWindow ?? DEFAULT_DEDUP_WINDOW),
      factsMaxFileBytes: c.limits?.factsMaxFileBytes ?? DEFAULT_FACTS_MAX_FILE_BYTES,
      callDeadlineMs: parseDuration(c.limits?.callDeadline ?? "5s"),
      agentMemoryMb: c.limits?.agentMemoryMb ?? DEFAULT_AGENT_MEMORY_MB,
      maxDeliver: c.limits?.maxDeliver ?? 5,
      maxRestarts: c.limits?.maxRestarts ?? 5,
      restartWindowMs: parseDuration(c.limits?.restartWindow ?? "60s"),
      restartBackoffMs: parseDuration(c.limits?.restartBackoff ?? "100ms"),
      maxClockSkewMs: parseDuration(c.limits?.maxClockSkew ?? "5m"),
      ackWaitMs: parseDuration(c.limits?.ackWait ?? "30s"),
      maxMessageAgeMs: parseDuration(c.limits?.maxMessageAge ?? "23h"),
      leaseTtlMs: parseDuration(c.limits?.leaseTtl ?? "10s"),
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

/** Host events may only come from the system's own identities: hosts, the gateway, the bridge. */
export function systemIdentities(config: AgoraConfig): Set<string> {
  return new Set([config.host.name, ...config.hosts, config.gateway.identity, ...(config.github ? [config.github.identity] : [])]);
}
