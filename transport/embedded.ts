// The embedded nats-server, secure by default: every identity of the config
// gets a key (when it has none), the generated authorization is written beside
// the store, and the server refuses anyone who cannot log in with one of them.
import { chmodSync, writeFileSync } from "node:fs";
import type { AgoraConfig } from "../config/config.js";
import { KeyStore } from "../trust/key-store.js";
import { authorizationUsers, natsAuthorization } from "./authorization.js";
import { NatsServer, type NatsServerOptions } from "./nats-server.js";

/** An identity's public key: the config's, else the key directory's. */
export function publicKeyOf(config: AgoraConfig, store = new KeyStore(config.keysDir)) {
  return (name: string): string | undefined =>
    config.external.find((e) => e.name === name)?.publicKey ??
    (store.has(name) ? store.load(name).publicKey : undefined);
}

/**
 * Make a key for every identity that logs in to NATS and has neither a key file
 * nor a public key in the config. The names of the keys made are returned.
 */
export function ensureIdentityKeys(config: AgoraConfig, store = new KeyStore(config.keysDir)): string[] {
  const made: string[] = [];
  const known = publicKeyOf(config, store);
  for (const { name } of authorizationUsers(config)) {
    if (known(name)) continue;
    store.loadOrGenerate(name);
    made.push(name);
  }
  return made;
}

/** Write the generated authorization for `config` to `file` (mode 0600); every identity must have a key. */
export function writeAuthorization(config: AgoraConfig, file: string): void {
  writeFileSync(file, natsAuthorization(config, publicKeyOf(config)), { mode: 0o600 });
  chmodSync(file, 0o600);
}

/**
 * Start nats-server for `config`: with `nats.auth: nkey` (the default) keys are
 * made where missing and the authorization is passed with `-c authFile`.
 */
export async function startConfiguredNats(
  config: AgoraConfig,
  options: NatsServerOptions & { authFile: string },
): Promise<NatsServer> {
  const { authFile, ...server } = options;
  if (config.nats.auth === "none") return NatsServer.start(server);
  ensureIdentityKeys(config);
  writeAuthorization(config, authFile);
  return NatsServer.start({ ...server, args: [...(server.args ?? []), "-c", authFile] });
}
