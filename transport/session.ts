// Trust at start-up: the key registry (pinned local keys, first-seen KV keys)
// and the verifier every process checks envelopes and host events with.
import type { AgoraConfig } from "../config/config.js";
import { KeyRegistry } from "../trust/key-registry.js";
import { KeyStore } from "../trust/key-store.js";
import type { Infrastructure } from "./infrastructure.js";
import { Verifier } from "../trust/verifier.js";

/** Register every identity in the key directory and config in KV, and follow the bucket. */
export async function startKeyRegistry(config: AgoraConfig, infra: Infrastructure): Promise<KeyRegistry> {
  const registry = new KeyRegistry();
  const store = new KeyStore(config.keysDir);
  // Our own key files and the config's public keys are pinned; KV cannot override them.
  for (const name of store.names()) {
    const id = store.load(name);
    registry.pin(name, id.publicKey);
    await KeyRegistry.publish(infra.keys, name, id.publicKey).catch(() => {});
  }
  for (const ext of config.external) {
    if (!ext.publicKey) continue;
    registry.pin(ext.name, ext.publicKey);
    await KeyRegistry.publish(infra.keys, ext.name, ext.publicKey).catch(() => {});
  }
  await registry.follow(infra.keys);
  return registry;
}

/** The key registry plus a verifier that looks unknown senders up in the bucket once. */
export async function startTrust(config: AgoraConfig, infra: Infrastructure): Promise<{ registry: KeyRegistry; verifier: Verifier }> {
  const registry = await startKeyRegistry(config, infra);
  return { registry, verifier: new Verifier(config, registry, (name) => registry.refresh(infra.keys, name)) };
}
