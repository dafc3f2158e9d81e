// agora gateway: run the operator console alone against an existing NATS.
import { DEFAULTS } from "../config/defaults.js";
import { loadConfig } from "../config/config.js";
import { Gateway } from "../gateway/gateway.js";
import { tokensFile } from "../gateway/auth.js";
import { CONFIG_HELP, CONFIG_OPTION, untilSignal, type Command } from "./command.js";
import { connectAs } from "./nats-url.js";

export const gateway: Command = {
  name: "gateway",
  usage: "gateway [--config FILE] [--host H] [--port P]",
  summary: "Run the operator console (live watch, inject, kill switch, REST, /metrics) against an existing NATS.",
  help: `Binds to gateway.host (loopback by default). Tokens: gateway.viewerToken /
gateway.operatorToken, AGORA_VIEWER_TOKEN / AGORA_OPERATOR_TOKEN, or generated
once into <data>/gateway-tokens.json (mode 0600). /metrics has the host's
metrics only when the gateway runs in the host's process (agora up).

options:
${CONFIG_HELP}
      --host H        listen address (default gateway.host, ${DEFAULTS.gateway.host})
      --port P        listen port (default gateway.port, ${DEFAULTS.gateway.port}; 0 picks one)`,
  options: { ...CONFIG_OPTION, host: { type: "string" }, port: { type: "string" } },
  async run({ values }) {
    const config = loadConfig(values.config as string | undefined);
    const nc = await connectAs(config, config.gateway.identity, "agora-gateway");
    const g = await Gateway.create({ config, nc });
    const url = await g.listen({
      host: (values.host as string | undefined) ?? config.gateway.host,
      port: values.port !== undefined ? Number(values.port) : config.gateway.port,
    });
    console.log(`agora gateway: console at ${url}/`);
    if (g.tokens.generated)
      console.log(`agora gateway: operator token ${g.tokens.operator} (saved in ${tokensFile(config)})`);
    const sig = await untilSignal();
    console.log(`agora gateway: ${sig}: closing`);
    await g.close();
    await nc.drain().catch(() => {});
    return 0;
  },
};
