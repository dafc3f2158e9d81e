// agora nats-config: nats-server authorization generated from agora.yaml.
import { writeFileSync } from "node:fs";
import { loadConfig } from "../config/config.js";
import { KeyStore } from "../trust/key-store.js";
import { natsAuthorization } from "../transport/authorization.js";
import { CONFIG_HELP, CONFIG_OPTION, type Command } from "./command.js";

export const natsConfig: Command = {
  name: "nats-config",
  usage: "nats-config [--config FILE] [--out FILE]",
  summary:
    "Generate nats-server authorization from agora.yaml: a user per host, gateway, bridge and external agent, authenticated by the nkey of its own Ed25519 key, with permissions from its grants.",
  help: `Include the output in a nats-server config (\`include "agora-auth.conf"\`), and set
nats.auth: nkey (or AGORA_NATS_AUTH=nkey) so agora's processes log in with their keys.
Only the gateway identity may publish agora.ctl.> or write the control bucket.

options:
${CONFIG_HELP}
      --out FILE      write to FILE instead of stdout`,
  options: { ...CONFIG_OPTION, out: { type: "string" } },
  async run({ values }) {
    const config = loadConfig(values.config as string | undefined);
    const store = new KeyStore(config.keysDir);
    const text = natsAuthorization(
      config,
      (name) =>
        config.external.find((e) => e.name === name)?.publicKey ??
        (store.has(name) ? store.load(name).publicKey : undefined),
    );
    if (typeof values.out === "string") {
      writeFileSync(values.out, text);
      console.error(`agora nats-config: written to ${values.out}`);
    } else process.stdout.write(text);
    return 0;
  },
};
