// Connecting the CLI to the deployment's NATS as one of its identities.
import type { AgoraConfig } from "../config/config.js";
import { natsUrlOf } from "../config/paths.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { KeyStore } from "../trust/key-store.js";
import { connectNats } from "../transport/connect.js";
import { openInfrastructure, type Infrastructure } from "../transport/infrastructure.js";

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

/**
 * Run `read` against the deployment's stream and buckets, connected as this
 * host (the identity the CLI reads with); the connection is drained after.
 */
export async function readDeployment<T>(
  config: AgoraConfig,
  command: string,
  read: (infra: Infrastructure) => Promise<T>,
): Promise<T> {
  const nc = await connectAs(config, config.host.name, `agora-${command}`);
  try {
    return await read(await openInfrastructure(nc, config, { waitMs: 3000 }));
  } finally {
    await nc.drain().catch(() => {});
  }
}
