// agora nats-config: nats-server authorization generated from agora.yaml.
import { writeFileSync } from "node:fs";
import { loadConfig } from "../config/config.js";
import { ensureIdentityKeys, publicKeyOf } from "../transport/embedded.js";
import { natsAuthorization } from "../transport/authorization.js";
import { ADMIN_IDENTITY } from "../protocol/names.js";
import { CONFIG_HELP, CONFIG_OPTION, type Command } from "./command.js";

export const natsConfig: Command = {
  name: "nats-config",
  usage: "nats-config [--config FILE] [--out FILE] [--no-generate]",
  summary:
    "Generate nats-server authorization from agora.yaml: a user per identity (agora-admin, each host, the recorder, the gateway, the bridge, each external agent), logged in with the nkey of its own Ed25519 key, with least privilege for its role — JetStream API included.",
  help: `For a nats-server you run yourself (agora up writes the same authorization,
with JetStream, to <data>/nats-server.conf). Include the output in its config
(\`include "agora-auth.conf"\`); agora's processes log in with their keys
(nats.auth: nkey, the default). Only ${ADMIN_IDENTITY} may create, change or
delete the stream and buckets; only the gateway identity may publish agora.ctl.>
or write the control bucket. See docs/security.md.

options:
${CONFIG_HELP}
      --out FILE      write to FILE instead of stdout
      --no-generate   fail on identities without a key instead of making one in the key directory`,
  options: { ...CONFIG_OPTION, out: { type: "string" }, "no-generate": { type: "boolean" } },
  async run({ values }) {
    const config = loadConfig(values.config as string | undefined);
    const made = values["no-generate"] ? [] : ensureIdentityKeys(config);
    if (made.length > 0) console.error(`agora nats-config: generated keys for ${made.join(", ")} in ${config.keysDir}`);
    const text = natsAuthorization(config, publicKeyOf(config));
    if (typeof values.out === "string") {
      writeFileSync(values.out, text);
      console.error(`agora nats-config: written to ${values.out}`);
    } else process.stdout.write(text);
    return 0;
  },
};
