// agora deploy (--canary, --promote), agora rollback, agora rollout status:
// which registry version each hosted agent runs, and how a canary goes.
import { Kvm } from "@nats-io/kv";
import { loadConfig, type AgoraConfig } from "../config/config.js";
import { ADMIN_IDENTITY } from "../protocol/names.js";
import type { DeployRecord } from "../protocol/records.js";
import { parseCanaryPercent } from "../protocol/rollout.js";
import { DEPLOYS_BUCKET } from "../protocol/subjects.js";
import { ComponentRegistry } from "../transport/component-registry.js";
import { applyDeploy, readRollouts, type DeployRequest } from "../transport/deploys.js";
import { CONFIG_HELP, CONFIG_OPTION, usageError, type Command } from "./command.js";
import { refOf } from "./components.js";
import { connectAs, readDeployment } from "./nats-url.js";

/** Carry out `request` as the admin, and print what each agent runs now. */
async function deployAs(config: AgoraConfig, request: DeployRequest): Promise<void> {
  const nc = await connectAs(config, ADMIN_IDENTITY, "agora-deploy");
  try {
    const deploys = await new Kvm(nc).open(DEPLOYS_BUCKET);
    const { records, manifest } = await applyDeploy(
      () => ComponentRegistry.open(nc),
      deploys,
      config,
      request,
      ADMIN_IDENTITY,
    );
    const signed = manifest ? ` (${manifest.digest.slice(0, 19)}…, ${manifest.publisher})` : "";
    for (const r of records) console.log(`${r.agent}: ${describe(r)}${r.canary || !manifest ? "" : signed}`);
  } finally {
    await nc.drain().catch(() => {});
  }
}

/** What a deploy record makes its agent run, in one line. */
function describe(r: DeployRecord): string {
  const canary = r.canary ? `, canary ${r.canary.component} on ${r.canary.percent}% of conversations` : "";
  const back = r.rolledBack && !r.canary ? ` (rolled back from ${r.rolledBack.component}: ${r.rolledBack.reason})` : "";
  return `runs ${r.component}${canary}${back}`;
}

export const deploy: Command = {
  name: "deploy",
  usage:
    "deploy <name@version> [--agent NAME] [--canary P%] [--config FILE]\n       agora deploy --promote [<agent|name>] [--agent NAME] [--config FILE]",
  summary:
    "Switch every agent running component <name> (or the one --agent names) to <name@version> from the registry, without a restart — all at once, or as a canary on a share of the conversations.",
  help: `The component is checked first as a host would (a trusted publisher's signature over
exactly the stored bytes); a deploy a host would refuse is not written. The
deploy is recorded in agora-deploys; every host follows it: it finishes the
message in hand on the old version and takes the next on the new one, and a
host that starts the agent later runs the deployed version too. Agent state
(KV) carries over. Each host records agent-started with the digest, and each
act's fact names the digest of the version that produced it.

With --canary P%, the agent keeps its current version and runs the new one
beside it: a conversation goes to the canary when a stable hash of its conv
falls in P% (every act of that conversation, on every host). Both versions share
the agent's state. The host rolls the canary back on its own when it traps
components.rollout.maxTraps times, or fails more often than the current version
by components.rollout.failureMargin once it has handled minCalls messages, and
records a canary-rolled-back fact saying why. agora rollout status shows how it
goes; --promote makes the canary the version every conversation runs.

options:
${CONFIG_HELP}
      --agent NAME        only this agent (default: every agent whose config names component <name>)
      --canary P%         run <name@version> beside the current version on P% of the conversations (0 < P < 100)
      --promote           make each targeted agent's canary its version (every agent with a canary when none is named)`,
  options: {
    ...CONFIG_OPTION,
    agent: { type: "string" },
    canary: { type: "string" },
    promote: { type: "boolean" },
  },
  async run({ values, positionals }) {
    const agent = values.agent as string | undefined;
    if (values.promote) {
      if (values.canary !== undefined) throw usageError(deploy, "--promote and --canary do not go together");
      if (positionals.length > 1) throw usageError(deploy, "deploy --promote takes at most one <agent|name>");
      await deployAs(loadConfig(values.config as string | undefined), {
        op: "promote",
        ...(positionals[0] !== undefined ? { name: positionals[0] } : {}),
        ...(agent !== undefined ? { agent } : {}),
      });
      return 0;
    }
    if (positionals.length !== 1) throw usageError(deploy, "deploy needs exactly one <name@version> (or --promote)");
    const component = refOf(deploy, positionals[0]);
    let request: DeployRequest = { op: "deploy", component, ...(agent !== undefined ? { agent } : {}) };
    if (values.canary !== undefined) {
      const percent = parseCanaryPercent(String(values.canary));
      if (percent === undefined)
        throw usageError(
          deploy,
          `--canary is a share strictly between 0% and 100%, e.g. 20% (got ${String(values.canary)})`,
        );
      request = { ...request, op: "canary", percent };
    }
    await deployAs(loadConfig(values.config as string | undefined), request);
    return 0;
  },
};

export const rollback: Command = {
  name: "rollback",
  usage: "rollback [<agent|name>] [--agent NAME] [--reason TEXT] [--config FILE]",
  summary:
    "End a canary (its conversations go back to the current version), or — without one — return an agent to the version it ran before its last deploy.",
  help: `<agent|name> is an agent, or a component name (every agent whose config names
it); with neither, every agent that has a canary. The record says who rolled
back and why (--reason); hosts switch between two messages, as for a deploy.
AGORA_ERR_NO_ROLLOUT when there is nothing to roll back.

options:
${CONFIG_HELP}
      --agent NAME        only this agent
      --reason TEXT       why (kept in the deploy record; default: by admin)`,
  options: { ...CONFIG_OPTION, agent: { type: "string" }, reason: { type: "string" } },
  async run({ values, positionals }) {
    if (positionals.length > 1) throw usageError(rollback, "rollback takes at most one <agent|name>");
    const agent = values.agent as string | undefined;
    await deployAs(loadConfig(values.config as string | undefined), {
      op: "rollback",
      ...(positionals[0] !== undefined ? { name: positionals[0] } : {}),
      ...(agent !== undefined ? { agent } : {}),
      ...(typeof values.reason === "string" ? { reason: values.reason.slice(0, 300) } : {}),
    });
    return 0;
  },
};

export const rolloutStatus: Command = {
  name: "rollout status",
  usage: "rollout status [<agent>] [--json] [--config FILE]",
  summary:
    "What each hosted agent runs (agora-deploys) and, for a canary rollout, each version's messages, failures, traps and latency as its host counts them.",
  help: `The counts are the host's since the rollout began there (agora-rollouts, written
every second while they change); a rolled-back canary keeps its last counts and
the reason.

options:
${CONFIG_HELP}
      --json              print JSON`,
  options: { ...CONFIG_OPTION, json: { type: "boolean" } },
  async run({ values, positionals }) {
    if (positionals.length > 1) throw usageError(rolloutStatus, "rollout status takes at most one <agent>");
    const config = loadConfig(values.config as string | undefined);
    const names = config.agents.map((a) => a.name).filter((n) => positionals[0] === undefined || n === positionals[0]);
    if (names.length === 0) throw usageError(rolloutStatus, `no hosted agent ${positionals[0]} in the config`);
    const views = await readDeployment(config, "rollout", (infra) => readRollouts(infra, names));
    if (values.json) {
      console.log(JSON.stringify(views, null, 2));
      return 0;
    }
    const configured = new Map(config.agents.map((a) => [a.name, a.component]));
    for (const v of views) {
      console.log(`${v.agent}: ${v.deploy ? describe(v.deploy) : `runs ${configured.get(v.agent)} (its config)`}`);
      const r = v.rollout;
      if (!r) continue;
      const live = v.deploy?.canary?.component === r.canary.component;
      if (!live && !r.rolledBack) continue; // an earlier rollout, promoted or replaced
      console.log(`  rollout on ${r.host} since ${r.since} (updated ${r.updated}), canary on ${r.percent}%`);
      console.log(
        `  ${"version".padEnd(24)} ${"msgs".padStart(7)} ${"failed".padStart(7)} ${"rate".padStart(6)} ${"traps".padStart(6)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)}`,
      );
      for (const [label, t] of [
        ["current", r.current],
        ["canary", r.canary],
      ] as const) {
        const rate = t.calls === 0 ? "-" : `${((t.failures / t.calls) * 100).toFixed(1)}%`;
        console.log(
          `  ${`${t.component} (${label})`.padEnd(24)} ${String(t.calls).padStart(7)} ${String(t.failures).padStart(7)} ${rate.padStart(6)} ${String(t.traps).padStart(6)} ${t.p50Ms.toFixed(1).padStart(8)} ${t.p99Ms.toFixed(1).padStart(8)}`,
        );
      }
      if (r.rolledBack) console.log(`  rolled back at ${r.rolledBack.at}: ${r.rolledBack.reason}`);
    }
    return 0;
  },
};
