// config: agora.yaml — defaults, schema, loading. Reads only protocol/.
export {
  DEFAULTS,
  DEFAULT_CALL_DEADLINE_MS,
  DEFAULT_LEASE_TTL_MS,
  MARKER_TTL_MS,
  MIN_LEASE_TTL_MS,
  durationMs,
} from "./defaults.js";
export { CONFIG_SCHEMA } from "./schema.js";
export {
  loadConfig,
  parseConfig,
  parseDuration,
  grantOf,
  systemIdentities,
  defaultRepoChannel,
  type AgoraConfig,
  type Grant,
  type HostedAgentConfig,
  type ExternalAgentConfig,
  type GithubConfig,
  type GithubRepoConfig,
} from "./config.js";
