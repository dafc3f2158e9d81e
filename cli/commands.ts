// The agora commands, and how argv picks one (cli/main.ts runs it).
import { helpText, parse, type Command } from "./command.js";
import { demo } from "./demo.js";
import { factsVerify } from "./facts.js";
import { keysGen } from "./keys.js";
import { natsConfig } from "./nats-config.js";
import { send } from "./send.js";
import { mcp } from "./mcp.js";
import { status } from "./status.js";
import { agents } from "./agents.js";
import { trace } from "./trace.js";
import { convs } from "./convs.js";
import { componentsLs, componentsPush, componentsRm, componentsShow, componentsVerify } from "./components.js";
import { deploy, rollback, rolloutStatus } from "./rollouts.js";
import { bridge } from "./bridge.js";
import { gateway } from "./gateway.js";
import { hostDrain, hostUndrain, kill, revive } from "./hosts.js";
import { host, up } from "./up.js";
import { watch } from "./watch.js";

export const COMMANDS: Command[] = [
  up,
  host,
  hostDrain,
  hostUndrain,
  gateway,
  bridge,
  status,
  agents,
  trace,
  convs,
  send,
  kill,
  revive,
  mcp,
  watch,
  keysGen,
  componentsPush,
  componentsLs,
  componentsShow,
  componentsVerify,
  componentsRm,
  deploy,
  rollback,
  rolloutStatus,
  factsVerify,
  natsConfig,
  demo,
];

function mainHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return `usage: agora <command> [options]

agora: signed agent coordination on NATS JetStream — wasm agents, host-enforced
controls, hash-chained YAML facts.

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary.split(". ")[0]!.replace(/\.$/, "")}`).join("\n")}

Run 'agora <command> --help' for a command's options.
Environment: NATS_URL (use this NATS), AGORA_CONFIG (config file), AGORA_DATA (data directory).
`;
}

/** Find the command named by the first one or two words of argv. */
export function resolveCommand(argv: string[]): { cmd?: Command; rest: string[] } {
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(" ");
    const cmd = COMMANDS.find((c) => c.name === name);
    if (cmd) return { cmd, rest: argv.slice(words) };
  }
  return { rest: argv };
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    process.stdout.write(mainHelp());
    return argv.length === 0 ? 2 : 0;
  }
  const { cmd, rest } = resolveCommand(argv);
  if (!cmd) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `));
    if (group.length > 0 && (rest.length === 1 || rest[1] === "--help" || rest[1] === "-h")) {
      process.stdout.write(group.map(helpText).join("\n"));
      return rest.length === 1 ? 2 : 0;
    }
    console.error(`AGORA_ERR_USAGE: unknown command '${argv.join(" ")}'; run 'agora --help'`);
    return 2;
  }
  const parsed = parse(cmd, rest);
  if (parsed === "help") {
    process.stdout.write(helpText(cmd));
    return 0;
  }
  return cmd.run(parsed);
}
