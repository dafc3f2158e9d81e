// Session: how every process — host, recorder, gateway, bridge, CLI — joins
// agora: the stream and buckets (infrastructure), its own identity, and trust
// (the key registry: pinned local keys, first-seen KV keys; and the verifier it
// checks envelopes and host events with).
import type { NatsConnection } from "@nats-io/transport-node";
import type { AgoraConfig } from "../config/config.js";
import { KeyRegistry } from "../trust/key-registry.js";
import { KeyStore } from "../trust/key-store.js";
import { openInfrastructure, type Infrastructure } from "./infrastructure.js";
import type { Identity } from "../trust/key-store.js";
import { Verifier } from "../trust/verifier.js";

/**
 * Pin every key of the key directory and the config, register `publish` (keys
 * this identity may write: its own, a host's agents') in KV, and follow the bucket.
 */
export async function startKeyRegistry(
  config: AgoraConfig,
  infra: Infrastructure,
  publish: readonly string[] = [],
): Promise<KeyRegistry> {
  const registry = new KeyRegistry();
  const store = new KeyStore(config.keysDir);
  // Our own key files and the config's public keys are pinned; KV cannot override them.
  for (const name of store.names()) registry.pin(name, store.load(name).publicKey);
  for (const ext of config.external) if (ext.publicKey) registry.pin(ext.name, ext.publicKey);
  for (const name of publish) {
    if (store.has(name)) await KeyRegistry.publish(infra.keys, name, store.load(name).publicKey).catch(() => {});
  }
  await registry.follow(infra.keys);
  return registry;
}

/** The key registry plus a verifier that looks unknown senders up in the bucket once. */
export async function startTrust(
  config: AgoraConfig,
  infra: Infrastructure,
  publish: readonly string[] = [],
): Promise<{ registry: KeyRegistry; verifier: Verifier }> {
  const registry = await startKeyRegistry(config, infra, publish);
  return { registry, verifier: new Verifier(config, registry, (name) => registry.refresh(infra.keys, name)) };
}

/** What a process holds once it has joined. */
export interface Session {
  config: AgoraConfig;
  nc: NatsConnection;
  infra: Infrastructure;
  /** The process's own identity (its key from the key directory). */
  identity: Identity;
  registry: KeyRegistry;
  verifier: Verifier;
  /** Stop following the key bucket (the connection stays the caller's). */
  close(): void;
}

export interface SessionOptions {
  /** The identity this process acts as. */
  identity: string;
  /** Register the identity's public key in agora-keys first (first registration wins). @default false */
  publish?: boolean;
  /** Further identities whose keys must exist (made when missing) before trust starts, e.g. a host's agents. */
  keys?: readonly string[];
}

/** Join agora on `nc` as `options.identity`: infrastructure, the identity's key (made when missing), trust. */
export async function openSession(config: AgoraConfig, nc: NatsConnection, options: SessionOptions): Promise<Session> {
  const infra = await openInfrastructure(nc, config);
  const store = new KeyStore(config.keysDir);
  const identity = store.loadOrGenerate(options.identity);
  for (const name of options.keys ?? []) store.loadOrGenerate(name);
  if (options.publish) await KeyRegistry.publish(infra.keys, identity.name, identity.publicKey);
  // The keys it may register: its own, and its agents' (a host), made here when missing.
  const { registry, verifier } = await startTrust(config, infra, [identity.name, ...(options.keys ?? [])]);
  return { config, nc, infra, identity, registry, verifier, close: () => registry.close() };
}
