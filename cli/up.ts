// agora up / agora host: run the substrate until interrupted.
import { loadConfig } from "../host/config.js";
import { CONFIG_HELP, CONFIG_OPTION, untilSignal, type Command } from "./command.js";
import { startRuntime } from "./runtime.js";

const log = (line: string) => console.log(`agora: ${line}`);

export const up: Command = {
  name: "up",
  usage: "up [--config FILE]",
  summary: "Start everything: a local nats-server (unless NATS_URL is set), the host with the agents of agora.yaml, and the facts recorder.",
  help: `Without NATS_URL (or nats.url in the config), starts \`nats-server -js\` with its
store under <data>/nats (default ./.agora/nats), installing Debian's nats-server
package with apt-get first when it is missing and we are root. Stops cleanly on
Ctrl-C / SIGTERM.

options:
${CONFIG_HELP}`,
  options: { ...CONFIG_OPTION },
  async run({ values }) {
    const config = loadConfig(values.config as string | undefined);
    const rt = await startRuntime(config, { embedded: true, facts: true, log });
    const first = config.channels[0] ?? "build-coord";
    const ext = config.external[0]?.name ?? "maintainer";
    console.log(`
agora is up — NATS ${rt.url}, ${rt.host.runtimes.size} agent(s), facts in ${config.factsDir}
  watch:   agora watch ${first}
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
  summary: "Run a host (and the facts recorder) against an existing NATS: NATS_URL, nats.url, or nats://nats.host:nats.port.",
  help: `options:
${CONFIG_HELP}
      --agents LIST   run only these hosted agents (comma-separated)
      --no-facts      do not run the facts recorder in this process`,
  options: { ...CONFIG_OPTION, agents: { type: "string" }, "no-facts": { type: "boolean" } },
  async run({ values }) {
    const config = loadConfig(values.config as string | undefined);
    const agents = typeof values.agents === "string" ? values.agents.split(",").map((s) => s.trim()).filter(Boolean) : undefined;
    const rt = await startRuntime(config, { embedded: false, agents, facts: !values["no-facts"], log });
    log(`host ${config.host.name} running ${rt.host.runtimes.size} agent(s); Ctrl-C stops`);
    const sig = await untilSignal();
    log(`${sig}: draining …`);
    await rt.close();
    return 0;
  },
};
