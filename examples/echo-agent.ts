// An external agent in thirty lines: it answers every request on the channels
// it may read with `agree`, signed with its own key. Run it beside `agora up`:
//
//   npm start                                   # agora up: makes echo's key too
//   node --import tsx examples/echo-agent.ts    # in another terminal
//   ./agora send build-coord request '{"task":"build"}' --as maintainer
//
// Outside this checkout: npm install agora (the tarball of `npm pack`), and set
// AGORA_CONFIG to the deployment's agora.yaml.
import { connect } from "agora";

const agent = await connect({
  name: process.env.AGENT_NAME ?? "echo",
  config: process.env.AGORA_CONFIG ?? "agora.yaml", // its grants, key directory and NATS
});
console.log(`${agent.name}: listening`);

// Each message is handed over once, even across restarts: its turn ends when
// the loop asks for the next one.
for await (const msg of await agent.inbox()) {
  const { env } = msg;
  if (env.act !== "request") continue; // informs, agrees …: nothing to answer
  if (env.hop === 0) continue; // no hop budget left: answering would be refused
  await agent.reply(msg, "agree", { echo: env.body });
  console.log(`answered ${env.sender}'s request ${env.id}`);
}
