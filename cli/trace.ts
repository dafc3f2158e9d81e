// agora trace: where one message stands for every agent that may read it.
import { loadConfig } from "../config/config.js";
import { assertId } from "../protocol/names.js";
import { traceFacts } from "../facts/trace.js";
import { traceMessage } from "../transport/delivery.js";
import { CONFIG_HELP, CONFIG_OPTION, usageError, type Command } from "./command.js";
import { readDeployment } from "./nats-url.js";

export const trace: Command = {
  name: "trace",
  usage: "trace <envelope-id> [--config FILE] [--json]",
  summary:
    "Delivery status of one message: for each agent that may read its channel, handled, handling, dropped, failed, dead-lettered, rejected or pending — and by which fact.",
  help: `Reads the facts directory (data/facts) and the processed markers in NATS.
Without facts for the message (another machine's recorder), give its channel:
--channel NAME. An id that starts with "-" goes after "--": agora trace -- -xYz…

options:
${CONFIG_HELP}
      --channel NAME  the message's channel, when its facts are not here
      --json          print JSON`,
  options: { ...CONFIG_OPTION, json: { type: "boolean" }, channel: { type: "string" } },
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw usageError(trace, "trace needs exactly one <envelope-id>");
    const id = positionals[0]!;
    assertId(id, "envelope id");
    const config = loadConfig(values.config as string | undefined);
    return readDeployment(config, "trace", async (infra) => {
      const t = await traceMessage(config, infra, id, {
        facts: traceFacts(config.factsDir, id),
        channel: values.channel as string | undefined,
      });
      if (values.json) {
        console.log(JSON.stringify(t, null, 2));
        return 0;
      }
      if (!t.channel && !t.rejected) {
        console.log(`${id}: no fact names it in ${config.factsDir}; pass --channel to ask the agents' markers`);
        return 1;
      }
      console.log(
        t.rejected
          ? `${id}: rejected (${t.rejected.code}, ${t.rejected.fact}): delivered to nobody`
          : `${id}: ${t.sender ?? "?"} → ${t.channel} ${t.act ?? ""}${t.seq ? ` (seq ${t.seq}, ${t.fact})` : ""}`,
      );
      const w = Math.max(5, ...t.recipients.map((r) => r.agent.length));
      for (const r of t.recipients) {
        const why = r.reason ? ` (${r.reason})` : "";
        const facts = r.facts.length > 0 ? `  facts ${r.facts.join(", ")}` : "";
        const replies = r.replies.length > 0 ? `  replied ${r.replies.map(([e, f]) => `${e} (${f})`).join(", ")}` : "";
        console.log(`  ${r.agent.padEnd(w)}  ${r.kind.padEnd(8)}  ${r.status}${why}${facts}${replies}`);
      }
      return 0;
    });
  },
};
