// agora up / agora host: run the substrate until interrupted.
import { DEFAULTS } from "../config/defaults.js";
import { loadConfig } from "../config/config.js";
import { CONFIG_HELP, CONFIG_OPTION, untilSignal, type Command } from "./command.js";
import { startRuntime } from "./runtime.js";
import { tokensFile } from "../gateway/auth.js";

/** Log lines carry the time of day (UTC): hosts of a cluster can be lined up. */
const log = (line: string) => console.log(`agora: ${new Date().toISOString().slice(11, 23)} ${line}`);

export const up: Command = {
  name: "up",
  usage: "up [--config FILE] [--no-gateway]",
  summary:
    "Start everything: a local nats-server (unless NATS_URL is set), the host with the agents of agora.yaml, and the facts recorder.",
  help: `Without NATS_URL (or nats.url in the config), starts \`nats-server -js\` with its
store under <data>/nats (default ./${DEFAULTS.data}/nats), installing Debian's nats-server
package with apt-get first when it is missing and we are root. Stops cleanly on
Ctrl-C / SIGTERM. The operator console listens on gateway.host:gateway.port
(default http://${DEFAULTS.gateway.host}:${DEFAULTS.gateway.port}).

options:
${CONFIG_HELP}
      --no-gateway    do not start the operator console`,
  options: { ...CONFIG_OPTION, "no-gateway": { type: "boolean" } },
  async run({ values }) {
    const config = loadConfig(values.config as string | undefined);
    const rt = await startRuntime(config, { embedded: true, facts: true, gateway: !values["no-gateway"], log });
    const first = config.channels[0] ?? "build-coord";
    const ext = config.external[0]?.name ?? "maintainer";
    const console_ = rt.gateway
      ? `  console: ${rt.gateway.url}/  — sign in with the operator token below
  operator token: ${rt.gateway.tokens.operator}${rt.gateway.tokens.generated ? `   (viewer token and both saved in ${tokensFile(config)})` : ""}
`
      : "";
    console.log(`
agora is up — NATS ${rt.url}, ${rt.host.runtimes.size} agent(s), facts in ${config.factsDir}
${console_}  watch:   agora watch ${first}
  send:    agora send ${first} request '{"task":"build"}' --as ${ext}
  verify:  agora facts verify ${config.factsDir}
Ctrl-C stops.`);
    const sig = await untilSignal();
    log(`${sig}: draining …`);
    await rt.close();
    log("stopped");
    return 0;
  },
};

export const host: Command = {
  name: "host",
  usage: "host [--config FILE] [--agents a,b] [--no-facts]",
  summary:
    "Run a host (and the facts recorder) against an existing NATS: NATS_URL, nats.url, or nats://nats.host:nats.port.",
  help: `Several hosts can share one NATS (cluster): each hosted agent runs on exactly
one of them, placed by a lease in the agora-leases KV bucket. When a host stops
or dies its agents move to the others (after limits.leaseTtl, default 10s, if it
died); a new host takes its share. Each host needs its own host.name
(AGORA_HOST_NAME). 'agora host drain <host>' empties one before maintenance.

options:
${CONFIG_HELP}
      --agents LIST   the hosted agents this host may run (comma-separated; default all)
      --no-facts      do not run the facts recorder in this process`,
  options: { ...CONFIG_OPTION, agents: { type: "string" }, "no-facts": { type: "boolean" } },
  async run({ values }) {
    const config = loadConfig(values.config as string | undefined);
    const agents =
      typeof values.agents === "string"
        ? values.agents
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean)
        : undefined;
    const rt = await startRuntime(config, { embedded: false, agents, facts: !values["no-facts"], log });
    log(`host ${config.host.name} running ${rt.host.runtimes.size} agent(s); Ctrl-C stops`);
    const sig = await untilSignal();
    log(`${sig}: draining …`);
    await rt.close();
    return 0;
  },
};
