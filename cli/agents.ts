// agora agents: who is on agora — every agent's signed card and its presence.
import { loadConfig } from "../config/config.js";
import { startKeyRegistry } from "../transport/session.js";
import { readCards } from "../transport/presence.js";
import { readControlState } from "../transport/control-plane.js";
import { isKilled } from "../trust/control.js";
import { HEARTBEATS_MISSED } from "../protocol/cards.js";
import { CONFIG_HELP, CONFIG_OPTION, type Command } from "./command.js";
import { readDeployment } from "./nats-url.js";

export const agents: Command = {
  name: "agents",
  usage: "agents [--config FILE] [--json]",
  summary:
    "List the agents on agora — hosted, external, bridge, operator — from their signed cards: kind, presence (idle, working, offline, or killed by the operator), what each reads, writes and answers.",
  help: `Cards are renewed every limits.heartbeat (default 10s); one not renewed for
${HEARTBEATS_MISSED} heartbeats shows as offline. A card not signed by its agent's key is
not listed (the count of refused cards is printed).

options:
${CONFIG_HELP}
      --json          print JSON: [{ card, status }] (the card is shaped like an A2A Agent Card)`,
  options: { ...CONFIG_OPTION, json: { type: "boolean" } },
  async run({ values }) {
    const config = loadConfig(values.config as string | undefined);
    return readDeployment(config, "agents", async (infra) => {
      const registry = await startKeyRegistry(config, infra);
      const controls = await readControlState(infra.control, registry, config.controllers);
      const { agents, refused } = await readCards(
        infra.cards,
        (n) => registry.get(n) ?? registry.refresh(infra.keys, n),
        {
          config,
          killed: (n) => isKilled(config, controls, n),
        },
      );
      registry.close();
      if (values.json) {
        console.log(JSON.stringify({ agents, refused }, null, 2));
        return 0;
      }
      const w = Math.max(5, ...agents.map((p) => p.card.name.length));
      console.log(`${"agent".padEnd(w)}  kind      status   host        reads → writes; answers`);
      for (const { card, status } of agents) {
        const a = card.agora;
        const answers = a.answers.length > 0 ? `; answers ${a.answers.join(", ")}` : "";
        console.log(
          `${card.name.padEnd(w)}  ${a.kind.padEnd(8)}  ${status.padEnd(7)}  ${(a.host ?? "-").padEnd(10)}  ${a.reads.join(",") || "-"} → ${a.writes.join(",") || "-"}${answers}${card.description ? `  — ${card.description}` : ""}`,
        );
      }
      if (refused.length > 0)
        console.log(`refused ${refused.length} card(s) not signed by their agent: ${refused.join(", ")}`);
      return 0;
    });
  },
};
