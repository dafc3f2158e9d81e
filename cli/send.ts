// agora send: sign a speech act with an identity's key and publish it.
import { AgoraClient } from "../sdk/client.js";
import { loadConfig } from "../config/config.js";
import { AgoraError } from "../protocol/errors.js";
import { KeyStore } from "../trust/key-store.js";
import { CONFIG_HELP, CONFIG_OPTION, usageError, type Command } from "./command.js";
import { connectAs } from "./nats-url.js";

export const send: Command = {
  name: "send",
  usage: "send <channel> <act> <body> --as <name> [--hop N] [--re ID] [--conv ID] [--id ID]",
  summary: "Sign a speech act with <name>'s key (from the key directory) and publish it on <channel>.",
  help: `<body> is JSON; anything that does not parse as JSON is sent as a JSON string.
<act> is one of the 22 FIPA performatives (request, inform, agree, refuse, …).

options:
${CONFIG_HELP}
      --as NAME       identity to sign with (required)
      --hop N         hop budget (default: limits.hop, 3)
      --re ID         id of the message this answers
      --conv ID       conversation id
      --id ID         envelope id (default: random; reusing one is a replay)`,
  options: {
    ...CONFIG_OPTION,
    as: { type: "string" },
    hop: { type: "string" },
    re: { type: "string" },
    conv: { type: "string" },
    id: { type: "string" },
  },
  async run({ values, positionals }) {
    if (positionals.length !== 3) throw usageError(send, "send needs <channel> <act> <body>");
    if (typeof values.as !== "string") throw usageError(send, "send needs --as <name>");
    const [channel, act, rawBody] = positionals as [string, string, string];
    let body: unknown;
    try {
      body = JSON.parse(rawBody);
    } catch {
      body = rawBody;
    }
    const config = loadConfig(values.config as string | undefined);
    if (!config.channels.includes(channel)) {
      throw new AgoraError(
        "AGORA_ERR_UNKNOWN_CHANNEL",
        `channel ${channel} is not declared in ${config.file}; declared: ${config.channels.join(", ")}`,
      );
    }
    const identity = new KeyStore(config.keysDir).load(values.as);
    const hop = values.hop === undefined ? config.limits.hop : Number(values.hop);
    const nc = await connectAs(config, identity.name, `agora-send-${identity.name}`);
    try {
      const { env, ack } = await new AgoraClient(nc, identity).send(channel, act, body, {
        hop,
        re: values.re as string | undefined,
        conv: values.conv as string | undefined,
        id: values.id as string | undefined,
      });
      console.log(
        `sent ${env.act} ${env.id} on ${env.channel} as ${env.sender} (hop ${env.hop}, stream seq ${ack.seq}${ack.duplicate ? ", DUPLICATE: dropped by JetStream" : ""})`,
      );
    } finally {
      await nc.drain().catch(() => {});
    }
    return 0;
  },
};
