// JSON Schema of agora.yaml (additionalProperties: false everywhere). Its
// `default`s are DEFAULTS: ajv fills them in at load (useDefaults).
import { ACTS, MAX_HOP } from "../protocol/envelope.js";
import { NAME_RE } from "../protocol/names.js";
import { DEFAULTS } from "./defaults.js";

const NAME_KEY = NAME_RE.source;
const name = { type: "string", pattern: NAME_KEY } as const;
const names = { type: "array", items: name, uniqueItems: true } as const;
const duration = { type: "string", pattern: "^[0-9]+(ms|s|m|h)$" } as const;
const port = { type: "integer", minimum: 0, maximum: 65535 } as const;
/** `schema` with `value` as its default. */
const dflt = <S extends object, V>(schema: S, value: V) => ({ ...schema, default: value }) as S & { default: V };

/** A map keyed by names, each value an object (or null when `nullable`) with exactly `properties`. */
function byName(properties: object, options: { required?: string[]; nullable?: boolean } = {}) {
  return {
    type: "object",
    additionalProperties: false,
    patternProperties: {
      [NAME_KEY]: {
        type: options.nullable ? ["object", "null"] : "object",
        additionalProperties: false,
        ...(options.required ? { required: options.required } : {}),
        properties,
      },
    },
  } as const;
}

export const CONFIG_SCHEMA = {
  $id: "https://agora.dev/schemas/agora.yaml.json",
  type: "object",
  additionalProperties: false,
  properties: {
    data: {
      type: "string",
      minLength: 1,
      default: DEFAULTS.data,
      description: "state directory (keys/, facts/, nats/)",
    },
    nats: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        url: { type: "string", minLength: 1 },
        host: { type: "string", minLength: 1, default: DEFAULTS.nats.host },
        port: dflt(port, DEFAULTS.nats.port),
        auth: { enum: ["none", "nkey"], default: DEFAULTS.nats.auth },
        replicas: { enum: [1, 3, 5], default: DEFAULTS.nats.replicas },
      },
    },
    host: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        name: dflt(name, DEFAULTS.host.name),
        workers: { type: "integer", minimum: 1, maximum: 64, default: DEFAULTS.host.workers },
      },
    },
    hosts: {
      type: "array",
      items: name,
      uniqueItems: true,
      description: "every host identity of a multi-host deployment (whose signed decisions are recorded)",
    },
    channels: byName({ description: { type: "string" } }, { nullable: true }),
    agents: byName(
      {
        component: { type: "string", minLength: 1 },
        read: names,
        write: names,
        memoryMb: { type: "integer", minimum: 2, maximum: 4096 },
        // Its agent card (presence): what it does, its skills, the acts it answers.
        description: { type: "string", maxLength: 1000 },
        skills: {
          type: "array",
          maxItems: 64,
          items: {
            type: "object",
            additionalProperties: false,
            required: ["id", "description"],
            properties: {
              id: { type: "string", minLength: 1, maxLength: 200 },
              name: { type: "string", maxLength: 200 },
              description: { type: "string", maxLength: 1000 },
              tags: { type: "array", maxItems: 32, items: { type: "string", maxLength: 200 } },
            },
          },
        },
        answers: { type: "array", uniqueItems: true, items: { enum: [...ACTS] } },
      },
      { required: ["component"] },
    ),
    external: byName(
      {
        publicKey: { type: "string", pattern: "^[A-Za-z0-9_-]{43}$" },
        browser: { type: "boolean" },
        read: names,
        write: names,
        actsPerMinute: {
          type: "integer",
          minimum: 1,
          maximum: 100000,
          description: "send budget: acts in any minute beyond which its messages are refused (and dropped by readers)",
        },
      },
      { nullable: true },
    ),
    components: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        publishers: {
          type: "object",
          description:
            "trusted component publishers: name → base64url Ed25519 public key (agora components push --as <name>)",
          additionalProperties: false,
          patternProperties: { [NAME_KEY]: { type: "string", pattern: "^[A-Za-z0-9_-]{43}$" } },
        },
        rollout: {
          type: "object",
          additionalProperties: false,
          default: {},
          description: "when a host rolls a canary back on its own (agora deploy --canary)",
          properties: {
            failureMargin: {
              type: "number",
              minimum: 0,
              maximum: 1,
              default: DEFAULTS.components.rollout.failureMargin,
              description: "the canary's failure rate may exceed the current version's by this much (0.1 = 10 points)",
            },
            minCalls: {
              type: "integer",
              minimum: 1,
              maximum: 1000000,
              default: DEFAULTS.components.rollout.minCalls,
              description: "messages the canary handles before its failure rate is judged",
            },
            maxTraps: {
              type: "integer",
              minimum: 1,
              maximum: 1000000,
              default: DEFAULTS.components.rollout.maxTraps,
              description: "traps of the canary that roll it back whatever the rates",
            },
          },
        },
      },
    },
    gateway: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: "string", minLength: 1, default: DEFAULTS.gateway.host },
        port: dflt(port, DEFAULTS.gateway.port),
        identity: dflt(name, DEFAULTS.gateway.identity),
        viewerToken: { type: "string", minLength: 16 },
        operatorToken: { type: "string", minLength: 16 },
        allowedHosts: {
          type: "array",
          items: { type: "string", minLength: 1, pattern: "^[A-Za-z0-9.:\\[\\]-]+$" },
          uniqueItems: true,
          description:
            "Host header names the gateway answers (DNS-rebinding guard); loopback names and gateway.host always",
        },
        maxConnections: { type: "integer", minimum: 8, maximum: 100000, default: DEFAULTS.gateway.maxConnections },
        maxFailedLogins: { type: "integer", minimum: 1, maximum: 100000, default: DEFAULTS.gateway.maxFailedLogins },
      },
    },
    github: {
      type: "object",
      additionalProperties: false,
      required: ["repos"],
      properties: {
        identity: dflt(name, DEFAULTS.github.identity),
        apiUrl: { type: "string", pattern: "^https?://", default: DEFAULTS.github.apiUrl },
        tokenEnv: { type: "string", pattern: "^[A-Z_][A-Z0-9_]*$", default: DEFAULTS.github.tokenEnv },
        secretEnv: { type: "string", pattern: "^[A-Z_][A-Z0-9_]*$", default: DEFAULTS.github.secretEnv },
        botLogin: { type: "string", minLength: 1 },
        consoleUrl: { type: "string", pattern: "^https?://" },
        host: { type: "string", minLength: 1, default: DEFAULTS.github.host },
        port: dflt(port, DEFAULTS.github.port),
        maxBodyBytes: { type: "integer", minimum: 65536, maximum: 26214400, default: DEFAULTS.github.maxBodyBytes },
        repos: {
          type: "object",
          additionalProperties: false,
          minProperties: 1,
          patternProperties: {
            "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$": {
              type: ["object", "null"],
              additionalProperties: false,
              properties: { channel: name, decisionLabel: { type: "string", minLength: 1, maxLength: 50 } },
            },
          },
        },
      },
    },
    limits: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        hop: { type: "integer", minimum: 0, maximum: MAX_HOP, default: DEFAULTS.limits.hop },
        maxEnvelopeBytes: {
          type: "integer",
          minimum: 1024,
          maximum: 1048576,
          default: DEFAULTS.limits.maxEnvelopeBytes,
        },
        dedupWindow: dflt(duration, DEFAULTS.limits.dedupWindow),
        factsMaxFileBytes: { type: "integer", minimum: 4096, default: DEFAULTS.limits.factsMaxFileBytes },
        callDeadline: dflt(duration, DEFAULTS.limits.callDeadline),
        agentMemoryMb: { type: "integer", minimum: 2, maximum: 4096, default: DEFAULTS.limits.agentMemoryMb },
        instanceIdle: dflt(duration, DEFAULTS.limits.instanceIdle),
        maxDeliver: { type: "integer", minimum: 1, maximum: 1000, default: DEFAULTS.limits.maxDeliver },
        maxRestarts: { type: "integer", minimum: 0, maximum: 1000, default: DEFAULTS.limits.maxRestarts },
        maxTimers: { type: "integer", minimum: 0, maximum: 1000, default: DEFAULTS.limits.maxTimers },
        restartWindow: dflt(duration, DEFAULTS.limits.restartWindow),
        restartBackoff: dflt(duration, DEFAULTS.limits.restartBackoff),
        maxClockSkew: dflt(duration, DEFAULTS.limits.maxClockSkew),
        ackWait: dflt(duration, DEFAULTS.limits.ackWait),
        maxMessageAge: dflt(duration, DEFAULTS.limits.maxMessageAge),
        leaseTtl: dflt(duration, DEFAULTS.limits.leaseTtl),
        heartbeat: dflt(duration, DEFAULTS.limits.heartbeat),
        streamMaxAge: dflt(duration, DEFAULTS.limits.streamMaxAge),
        streamMaxBytes: { type: "integer", minimum: 1048576, default: DEFAULTS.limits.streamMaxBytes },
        dlqMaxAge: dflt(duration, DEFAULTS.limits.dlqMaxAge),
        dlqMaxBytes: { type: "integer", minimum: 1048576, default: DEFAULTS.limits.dlqMaxBytes },
      },
    },
  },
} as const;
