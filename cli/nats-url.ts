// Which NATS the CLI talks to.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AgoraConfig } from "../config/config.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { KeyStore } from "../trust/key-store.js";
import { connectNats } from "../transport/connect.js";

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

/** Connect as `identity`: with `nats.auth: nkey` it logs in with that identity's key. */
export function connectAs(
  config: AgoraConfig,
  identity: string,
  name = `agora-${identity}`,
  url = natsUrlOf(config),
  timeoutMs?: number,
): Promise<NatsConnection> {
  const id = config.nats.auth === "nkey" ? new KeyStore(config.keysDir).load(identity) : undefined;
  return connectNats({ url, name, identity: id, timeoutMs });
}
