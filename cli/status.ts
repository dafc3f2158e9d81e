// agora status: every agent with its status (running / killed / failed / stopped) and host.
import { loadConfig } from "../config/config.js";
import { startKeyRegistry } from "../transport/session.js";
import { CONFIG_HELP, CONFIG_OPTION, type Command } from "./command.js";
import { parseAgentStatus, statusView } from "../protocol/records.js";
import { readDeployment } from "./nats-url.js";
import { STREAM } from "../protocol/subjects.js";
import { readPlacement } from "../host/placement/leases.js";
import { readControlState } from "../transport/control-plane.js";

export const status: Command = {
  name: "status",
  usage: "status [--config FILE] [--json]",
  summary:
    "Show every hosted agent's status (running, killed, failed, stopped) as the hosts and the control plane report it.",
  help: `options:
${CONFIG_HELP}
      --json          print JSON`,
  options: { ...CONFIG_OPTION, json: { type: "boolean" } },
  async run({ values }) {
    const config = loadConfig(values.config as string | undefined);
    return readDeployment(config, "status", async (infra) => {
      const registry = await startKeyRegistry(config, infra);
      const controls = await readControlState(infra.control, registry, config.controllers);
      const placement = await readPlacement(infra.leases);
      const rows = [];
      for (const a of config.agents) {
        const e = await infra.agents.get(a.name);
        const rec = e?.operation === "PUT" ? parseAgentStatus(e.value) : undefined;
        const view = statusView(rec, controls.killed(a.name) ? { since: controls.deciding(a.name)?.ts } : undefined);
        // The lease says where it runs now; the status record where it last reported from.
        const host = placement.leases.get(a.name)?.host ?? view.host ?? "-";
        rows.push({ agent: a.name, status: view.status, host, since: view.since, reason: view.reason });
      }
      registry.close();
      const stream = await infra.jsm.streams.info(STREAM);
      if (values.json) {
        console.log(
          JSON.stringify(
            {
              agents: rows,
              hosts: [...placement.hosts.values()],
              stream: { messages: stream.state.messages, lastSeq: stream.state.last_seq },
            },
            null,
            2,
          ),
        );
        return 0;
      }
      const w = Math.max(5, ...rows.map((r) => r.agent.length));
      console.log(`${"agent".padEnd(w)}  status   host        since`);
      for (const r of rows)
        console.log(
          `${r.agent.padEnd(w)}  ${r.status.padEnd(7)}  ${String(r.host).padEnd(10)}  ${r.since ?? "-"}${r.reason ? `  (${r.reason})` : ""}`,
        );
      for (const h of placement.hosts.values()) {
        console.log(
          `host ${h.host}: ${h.draining ? "drained" : "live"}, ${h.agents} agent(s)${h.eligible.length < config.agents.length ? ` (may run ${h.eligible.join(", ")})` : ""}`,
        );
      }
      console.log(`stream AGORA: ${stream.state.messages} messages, last seq ${stream.state.last_seq}`);
      return 0;
    });
  },
};
