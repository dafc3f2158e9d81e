// agora demo: the original failure (cross-talk) and the protocols that can wait (ballot, contract-net).
import { formatCrossTalk, runCrossTalk } from "./demo-cross-talk.js";
import { formatDemo, runBallotDemo, runContractNetDemo } from "./demo-protocols.js";
import { usageError, type Command } from "./command.js";

const DEMOS = ["cross-talk", "ballot", "contract-net"] as const;

export const demo: Command = {
  name: "demo",
  usage: `demo ${DEMOS.join("|")} [--json]`,
  summary:
    "Run a demo on real JetStream and print what happened, with counts and timings: cross-talk (the chatty-agents loop bounded by the controls), ballot (quorum and deadline), contract-net (award to the cheapest, then a cancel).",
  help: `cross-talk     two chatty agents on build-coord, a maintainer request, a secret on
               secret-ops: the hop budget ends the loop, the self-echo filter and
               grants hold
ballot         the ballot agent with three voters: one ballot decided by quorum, one
               closed by its deadline (a durable timer) with the single vote it had
contract-net   the contract-net manager and three bidders: the cheapest is awarded and
               reports; a second request is cancelled by its requester once bid on

Each starts a private nats-server in a temp dir (or uses NATS_URL), with the
recorder and a host, and removes everything afterwards. Exits 1 when the outcome
is not the one promised or the facts do not verify.

options:
      --json          print the result as JSON`,
  options: { json: { type: "boolean" } },
  async run({ values, positionals }) {
    const name = positionals[0];
    if (positionals.length !== 1 || !DEMOS.includes(name as (typeof DEMOS)[number]))
      throw usageError(demo, `name one demo: ${DEMOS.join(", ")}`);
    const options = { natsUrl: process.env.NATS_URL || undefined, log: values.json ? undefined : console.log };
    if (name === "cross-talk") {
      const result = await runCrossTalk(options);
      console.log(values.json ? JSON.stringify(result, null, 2) : `\n${formatCrossTalk(result)}`);
      return result.secretDelivered === 0 && result.hopExhausted === 2 && result.factsVerified ? 0 : 1;
    }
    const result = await (name === "ballot" ? runBallotDemo(options) : runContractNetDemo(options));
    console.log(values.json ? JSON.stringify(result, null, 2) : `\n${formatDemo(result)}`);
    return result.ok ? 0 : 1;
  },
};
