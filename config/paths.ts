// Where a deployment's files live, and which NATS it uses: read by the CLI and the SDK alike.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AgoraConfig } from "./config.js";

/** Where `agora up` writes the URL of the nats-server it started. */
export function embeddedUrlFile(config: AgoraConfig): string {
  return join(config.data, "nats.url");
}

/** The nats-server config `agora up` writes (JetStream and the generated authorization) and starts the server with. */
export function serverConfigFile(config: AgoraConfig): string {
  return join(config.data, "nats-server.conf");
}

/** NATS_URL, else nats.url, else the server `agora up` started, else nats://nats.host:nats.port. */
export function natsUrlOf(config: AgoraConfig): string {
  if (config.nats.url) return config.nats.url;
  const file = embeddedUrlFile(config);
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  return `nats://${config.nats.host}:${config.nats.port}`;
}
