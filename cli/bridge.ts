// agora bridge: run the GitHub-issue bridge alone (webhook listener + outbound comments).
import { DEFAULTS } from "../config/defaults.js";
import Fastify from "fastify";
import { loadConfig } from "../config/config.js";
import { GithubBridge } from "../gateway/github/bridge.js";
import { githubWebhookRoutes } from "../gateway/github/routes.js";
import { CONFIG_HELP, CONFIG_OPTION, untilSignal, type Command } from "./command.js";
import { connectAs } from "./nats-url.js";

export const bridge: Command = {
  name: "bridge",
  usage: "bridge [--config FILE] [--host H] [--port P]",
  summary:
    "Run the GitHub-issue bridge alone: webhooks in at POST /github/webhook, agent decisions out as issue comments.",
  help: `Needs a github section in the config, the webhook secret in $${DEFAULTS.github.secretEnv}
and an API token in $${DEFAULTS.github.tokenEnv} (env var names configurable: github.secretEnv,
github.tokenEnv). The token is never logged or recorded.

options:
${CONFIG_HELP}
      --host H        listen address (default github.host, ${DEFAULTS.github.host})
      --port P        listen port (default github.port, ${DEFAULTS.github.port})`,
  options: { ...CONFIG_OPTION, host: { type: "string" }, port: { type: "string" } },
  async run({ values }) {
    const config = loadConfig(values.config as string | undefined);
    const nc = await connectAs(config, config.github?.identity ?? "github-bridge", "agora-bridge");
    const b = await GithubBridge.start({ config, nc, log: (l) => console.log(`agora bridge: ${l}`) });
    const app = Fastify({ logger: false });
    app.get("/healthz", async () => ({ status: "ok" }));
    await app.register(githubWebhookRoutes, { bridge: b });
    const url = await app.listen({
      host: (values.host as string | undefined) ?? config.github!.host,
      port: values.port !== undefined ? Number(values.port) : config.github!.port,
    });
    console.log(`agora bridge: ${config.github!.repos.map((r) => `${r.repo} ↔ ${r.channel}`).join(", ")}`);
    console.log(
      `agora bridge: webhook at ${url}/github/webhook (as ${config.github!.identity}${b.botLogin ? `, GitHub login ${b.botLogin}` : ""})`,
    );
    const sig = await untilSignal();
    console.log(`agora bridge: ${sig}: closing`);
    await app.close();
    await b.close();
    await nc.drain().catch(() => {});
    return 0;
  },
};
