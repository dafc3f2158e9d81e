import type { AgoraConfig } from "../host/config.js";

/** NATS_URL, else nats.url, else the embedded server's address from `agora up`. */
export function natsUrlOf(config: AgoraConfig): string {
  return config.nats.url ?? `nats://${config.nats.host}:${config.nats.port}`;
}
