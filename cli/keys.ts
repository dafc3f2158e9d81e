// agora keys gen: create an identity's Ed25519 key (file mode 0600) and register its public key.
import { loadConfig } from "../config/config.js";
import { KeyRegistry } from "../trust/key-registry.js";
import { KeyStore } from "../trust/key-store.js";
import { openInfrastructure } from "../transport/infrastructure.js";
import { CONFIG_HELP, CONFIG_OPTION, usageError, type Command } from "./command.js";
import { connectAs } from "./nats-url.js";
import { natsUrlOf } from "../config/paths.js";
import { ADMIN_IDENTITY } from "../protocol/names.js";

export const keysGen: Command = {
  name: "keys gen",
  usage: "keys gen <name> [--force] [--no-publish]",
  summary:
    "Generate an Ed25519 key for <name> in the key directory (<data>/keys, mode 0600) and publish its public key to the agora-keys KV bucket.",
  help: `When NATS is not reachable the key is still written; the host publishes every
key in the directory when it starts.

options:
${CONFIG_HELP}
      --force         replace an existing key (and its registration)
      --no-publish    only write the key file`,
  options: { ...CONFIG_OPTION, force: { type: "boolean" }, "no-publish": { type: "boolean" } },
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw usageError(keysGen, "keys gen needs exactly one <name>");
    const config = loadConfig(values.config as string | undefined);
    const store = new KeyStore(config.keysDir);
    const id = store.generate(positionals[0]!, { force: Boolean(values.force) });
    console.log(`key for ${id.name} written to ${store.path(id.name)} (mode 0600)`);
    console.log(`public key: ${id.publicKey}`);
    if (values["no-publish"]) return 0;
    try {
      // The admin registers any key; without its key, an identity registers its own.
      const as = config.nats.auth === "none" || store.has(ADMIN_IDENTITY) ? ADMIN_IDENTITY : id.name;
      const nc = await connectAs(config, as, "agora-keys", natsUrlOf(config), 2000);
      try {
        const infra = await openInfrastructure(nc, config, { waitMs: 2000 });
        await KeyRegistry.publish(infra.keys, id.name, id.publicKey, { force: Boolean(values.force) });
        console.log(`registered in KV bucket agora-keys at ${natsUrlOf(config)}`);
      } finally {
        await nc.drain().catch(() => {});
      }
    } catch (err) {
      console.log(`not registered yet (${(err as Error).message.split(";")[0]}); the host registers it when it starts`);
    }
    return 0;
  },
};
