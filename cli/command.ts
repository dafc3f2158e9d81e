// Command: one `agora` subcommand — its help text, options and action.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { AgoraError } from "../protocol/errors.js";

export type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export interface Command {
  /** e.g. "keys gen". */
  name: string;
  summary: string;
  /** Full help text after the usage line. */
  help: string;
  usage: string;
  options: Options;
  run(args: Parsed): Promise<number>;
}

export const CONFIG_OPTION: Options = {
  config: { type: "string", short: "c" },
};

export const CONFIG_HELP = "  -c, --config FILE   agora.yaml to use (default: $AGORA_CONFIG or ./agora.yaml)";

export function helpText(cmd: Command): string {
  return `usage: agora ${cmd.usage}\n\n${cmd.summary}\n\n${cmd.help.trimEnd()}\n  -h, --help          show this help\n`;
}

/** Parse argv for `cmd`; unknown flags are an AGORA_ERR_USAGE that points to --help. */
export function parse(cmd: Command, argv: string[]): Parsed | "help" {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...cmd.options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) return "help";
    return { values: values as Parsed["values"], positionals };
  } catch (err) {
    throw new AgoraError("AGORA_ERR_USAGE", `${(err as Error).message}; see: agora ${cmd.name} --help`);
  }
}

export function usageError(cmd: Command, message: string): AgoraError {
  return new AgoraError("AGORA_ERR_USAGE", `${message}\nusage: agora ${cmd.usage}  (agora ${cmd.name} --help)`);
}

/** Wait for SIGINT/SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      resolve(sig);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}
