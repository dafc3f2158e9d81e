// agora mcp: serve agora to an LLM agent over MCP (stdio) as one external identity.
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { loadConfig } from "../config/config.js";
import { DEFAULTS } from "../config/defaults.js";
import { AgoraError } from "../protocol/errors.js";
import { assertName } from "../protocol/names.js";
import { connect } from "../sdk/connect.js";
import { KeyStore } from "../trust/key-store.js";
import { createAgoraMcpServer } from "../mcp/server.js";
import { CONFIG_HELP, CONFIG_OPTION, usageError, type Command } from "./command.js";

export const mcp: Command = {
  name: "mcp",
  usage: "mcp --as <name> [--config FILE] [--acts-per-minute N]",
  summary:
    "Serve agora to an LLM agent (Claude Code, Codex, any MCP client) over MCP on stdio, as the external identity <name>.",
  help: `Every act the model sends is signed with <name>'s key (from the key directory),
kept below the hop of the message it answers, counted against a send budget,
refused when it repeats an answer, and refused once the operator kills <name>.

Tools: agora_channels, agora_agents, agora_read, agora_send, agora_request, agora_status.

Declare the identity in agora.yaml (external.<name> with read and write grants;
actsPerMinute sets the budget every reader enforces), make its key with
'agora keys gen <name>', then register the server with the client, e.g.:
  claude mcp add agora -- agora mcp --as <name>

stdout carries the MCP protocol; diagnostics go to stderr.

options:
${CONFIG_HELP}
      --as NAME             the external identity to act as (required)
      --acts-per-minute N   a send budget applied before signing, besides the config's
                            external.<name>.actsPerMinute (the lower wins); when the config
                            sets none, ${DEFAULTS.mcp.actsPerMinute}`,
  options: { ...CONFIG_OPTION, as: { type: "string" }, "acts-per-minute": { type: "string" } },
  async run({ values }) {
    if (typeof values.as !== "string") throw usageError(mcp, "mcp needs --as <name>");
    const name = values.as;
    assertName(name, "identity");
    const config = loadConfig(values.config as string | undefined);
    const grant = config.external.find((e) => e.name === name);
    if (!grant)
      throw new AgoraError(
        "AGORA_ERR_NOT_GRANTED",
        `${name} is not an external identity of ${config.file ?? "the config"}: declare external.${name} with read and write grants`,
      );
    if (grant.browser)
      throw new AgoraError("AGORA_ERR_NOT_GRANTED", `${name} is a browser identity: its key lives in the console`);
    if (grant.read.length === 0 && grant.write.length === 0)
      throw new AgoraError(
        "AGORA_ERR_NOT_GRANTED",
        `${name} may neither read nor write a channel: give external.${name} read and write grants`,
      );
    const store = new KeyStore(config.keysDir);
    if (!store.has(name))
      throw new AgoraError(
        "AGORA_ERR_KEY_MISSING",
        `no key for ${name} in ${config.keysDir}: run agora keys gen ${name} (or point --config at the deployment)`,
      );
    // The flag, else the config's budget (every reader enforces it), else a default for a model left unbounded.
    const raw = values["acts-per-minute"];
    const actsPerMinute =
      raw !== undefined ? Number(raw) : grant.actsPerMinute === undefined ? DEFAULTS.mcp.actsPerMinute : undefined;
    if (actsPerMinute !== undefined && (!Number.isInteger(actsPerMinute) || actsPerMinute < 1))
      throw usageError(mcp, "--acts-per-minute must be a positive integer");
    const log = (line: string) => process.stderr.write(`agora mcp (${name}): ${line}\n`);
    const agent = await connect({
      name,
      config,
      actsPerMinute,
      card: { description: `an LLM agent connected through MCP (agora mcp --as ${name})` },
    });
    const served = createAgoraMcpServer({ agent, config, actsPerMinute, log });
    await served.start();
    const transport = new StdioServerTransport();
    const closed = new Promise<void>((resolve) => (transport.onclose = resolve));
    await served.server.connect(transport);
    log(
      `serving on stdio (reads ${grant.read.join(", ") || "nothing"}; writes ${grant.write.join(", ") || "nothing"})`,
    );
    // The client ends the session by closing stdin; a signal ends it too.
    process.stdin.on("end", () => void served.server.close());
    const stop = () => void served.server.close();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    await Promise.race([closed, agent.closed()]);
    await served.close();
    await agent.close();
    return 0;
  },
};
