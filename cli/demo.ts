// agora demo cross-talk: the two-chatty-agents loop, bounded by the controls.
import { formatCrossTalk, runCrossTalk } from "./demo-cross-talk.js";
import { usageError, type Command } from "./command.js";

export const demo: Command = {
  name: "demo",
  usage: "demo cross-talk [--json]",
  summary:
    "Replay the original failure on real JetStream: two chatty agents on build-coord, a maintainer request, a secret on secret-ops; print the counts.",
  help: `Starts a private nats-server in a temp dir (or uses NATS_URL) and removes
everything afterwards.

options:
      --json          print the counts as JSON`,
  options: { json: { type: "boolean" } },
  async run({ values, positionals }) {
    if (positionals[0] !== "cross-talk" || positionals.length !== 1)
      throw usageError(demo, "the only demo is cross-talk");
    const result = await runCrossTalk({
      natsUrl: process.env.NATS_URL || undefined,
      log: values.json ? undefined : (l) => console.log(l),
    });
    console.log(values.json ? JSON.stringify(result, null, 2) : `\n${formatCrossTalk(result)}`);
    const ok = result.secretDelivered === 0 && result.hopExhausted === 2 && result.factsVerified;
    return ok ? 0 : 1;
  },
};
