// JSON Schema of agora.yaml (additionalProperties: false everywhere).

const name = { type: "string", pattern: "^[a-z0-9][a-z0-9-]{0,62}$" } as const;
const names = { type: "array", items: name, uniqueItems: true } as const;
const NAME_KEY = "^[a-z0-9][a-z0-9-]{0,62}$";

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
    data: { type: "string", minLength: 1, description: "state directory (keys/, facts/, nats/)" },
    nats: {
      type: "object",
      additionalProperties: false,
      properties: {
        url: { type: "string", minLength: 1 },
        host: { type: "string", minLength: 1 },
        port: { type: "integer", minimum: 0, maximum: 65535 },
        auth: { enum: ["none", "nkey"] },
        replicas: { enum: [1, 3, 5] },
      },
    },
    host: {
      type: "object",
      additionalProperties: false,
      properties: { name, workers: { type: "integer", minimum: 1, maximum: 64 } },
    },
    hosts: {
      type: "array",
      items: name,
      uniqueItems: true,
      description: "every host identity of a multi-host deployment (whose signed decisions are recorded)",
    },
    channels: byName({ description: { type: "string" } }, { nullable: true }),
    agents: byName(
      { component: { type: "string", minLength: 1 }, read: names, write: names, memoryMb: { type: "integer", minimum: 2, maximum: 4096 } },
      { required: ["component"] },
    ),
    external: byName(
      { publicKey: { type: "string", pattern: "^[A-Za-z0-9_-]{43}$" }, browser: { type: "boolean" }, read: names, write: names },
      { nullable: true },
    ),
    gateway: {
      type: "object",
      additionalProperties: false,
      properties: {
        host: { type: "string", minLength: 1 },
        port: { type: "integer", minimum: 0, maximum: 65535 },
        identity: name,
        viewerToken: { type: "string", minLength: 16 },
        operatorToken: { type: "string", minLength: 16 },
      },
    },
    github: {
      type: "object",
      additionalProperties: false,
      required: ["repos"],
      properties: {
        identity: name,
        apiUrl: { type: "string", pattern: "^https?://" },
        tokenEnv: { type: "string", pattern: "^[A-Z_][A-Z0-9_]*$" },
        secretEnv: { type: "string", pattern: "^[A-Z_][A-Z0-9_]*$" },
        botLogin: { type: "string", minLength: 1 },
        consoleUrl: { type: "string", pattern: "^https?://" },
        host: { type: "string", minLength: 1 },
        port: { type: "integer", minimum: 0, maximum: 65535 },
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
      properties: {
        hop: { type: "integer", minimum: 0, maximum: 16 },
        maxEnvelopeBytes: { type: "integer", minimum: 1024, maximum: 1048576 },
        dedupWindow: { type: "string", pattern: "^[0-9]+(ms|s|m|h)$" },
        factsMaxFileBytes: { type: "integer", minimum: 4096 },
        callDeadline: { type: "string", pattern: "^[0-9]+(ms|s|m|h)$" },
        agentMemoryMb: { type: "integer", minimum: 2, maximum: 4096 },
        maxDeliver: { type: "integer", minimum: 1, maximum: 1000 },
        maxRestarts: { type: "integer", minimum: 0, maximum: 1000 },
        restartWindow: { type: "string", pattern: "^[0-9]+(ms|s|m|h)$" },
        restartBackoff: { type: "string", pattern: "^[0-9]+(ms|s|m|h)$" },
        maxClockSkew: { type: "string", pattern: "^[0-9]+(ms|s|m|h)$" },
        ackWait: { type: "string", pattern: "^[0-9]+(ms|s|m|h)$" },
        maxMessageAge: { type: "string", pattern: "^[0-9]+(ms|s|m|h)$" },
        leaseTtl: { type: "string", pattern: "^[0-9]+(ms|s|m|h)$" },
      },
    },
  },
} as const;
