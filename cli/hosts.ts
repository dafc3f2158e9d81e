// agora host drain / undrain: move every agent off a host (before stopping or
// upgrading it), or let it take agents again; agora kill / revive: stop any
// identity — a hosted agent, an external agent, the bridge — or let it go on.
// Signed controls, out of band.
import { loadConfig, parseDuration, type AgoraConfig } from "../config/config.js";
import { issueControl, recordSenderControl } from "../transport/control-plane.js";
import { AgoraError } from "../protocol/errors.js";
import { KeyStore, type Identity } from "../trust/key-store.js";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Infrastructure } from "../transport/infrastructure.js";
import { openInfrastructure } from "../transport/infrastructure.js";
import { CONFIG_HELP, CONFIG_OPTION, usageError, type Command, type Parsed } from "./command.js";
import { connectAs } from "./nats-url.js";
import { readPlacement } from "../host/placement/leases.js";
import { ALL_AGENTS, type ControlVerb } from "../protocol/control.js";
import { killTarget } from "../config/config.js";
import { makeControl } from "../trust/control.js";

/** Run `issue` connected as the operator (gateway.identity), whose key signs every control. */
async function asOperator(
  config: AgoraConfig,
  verb: ControlVerb,
  issue: (nc: NatsConnection, infra: Infrastructure, signer: Identity) => Promise<number>,
): Promise<number> {
  const store = new KeyStore(config.keysDir);
  if (!store.has(config.gateway.identity)) {
    throw new AgoraError(
      "AGORA_ERR_KEY_MISSING",
      `${verb} is signed with the key of ${config.gateway.identity} (gateway.identity), which is not in ${config.keysDir}; run this where the gateway's key is`,
    );
  }
  const signer = store.load(config.gateway.identity);
  const nc = await connectAs(config, signer.name, `agora-${verb}`);
  try {
    return await issue(nc, await openInfrastructure(nc, config, { waitMs: 3000 }), signer);
  } finally {
    await nc.drain().catch(() => {});
  }
}

/** Sign a kill or revive of `agent` (or "*"), publish it, and say who acknowledged it and how long that took. */
async function agentControl(cmd: Command, verb: "kill" | "revive", { values, positionals }: Parsed): Promise<number> {
  if (positionals.length !== 1) throw usageError(cmd, `${cmd.name} needs exactly one <name> (or '*')`);
  const config: AgoraConfig = loadConfig(values.config as string | undefined);
  const target = positionals[0]!;
  if (target !== ALL_AGENTS && !killTarget(config, target)) {
    throw new AgoraError(
      "AGORA_ERR_BAD_NAME",
      `${target} is neither a hosted agent nor an external identity of ${config.file ?? "the config"} (the operator's own identity cannot be killed)`,
    );
  }
  return asOperator(config, verb, async (nc, infra, signer) => {
    const started = performance.now();
    const c = makeControl(verb, target, { name: signer.name, key: signer.privateKey });
    const { hosts } = await issueControl(nc, infra.control, c);
    const ms = Math.round(performance.now() - started);
    const failed = await recordSenderControl(infra.publisher, signer, config, c);
    if (failed) console.error(`could not record the ${verb} of external identities as facts: ${failed.message}`);
    console.log(
      `${verb} ${target}: signed by ${signer.name}, recorded in agora-control${hosts.length ? `, acknowledged by ${hosts.join(", ")}` : ""} in ${ms} ms`,
    );
    return 0;
  });
}

/** Sign `verb` for `host` with the gateway's key, publish it, and (for drain) wait until the host holds no agent. */
async function hostControl(cmd: Command, verb: ControlVerb, { values, positionals }: Parsed): Promise<number> {
  if (positionals.length !== 1) throw usageError(cmd, `${cmd.name} needs exactly one <host>`);
  const config: AgoraConfig = loadConfig(values.config as string | undefined);
  const host = positionals[0]!;
  return asOperator(config, verb, async (nc, infra, signer) => {
    const before = await readPlacement(infra.leases);
    if (!before.hosts.has(host))
      console.log(
        `host ${host} is not running now (no fresh record in agora-leases); the ${verb} applies when it starts`,
      );
    const c = makeControl(verb, host, { name: signer.name, key: signer.privateKey });
    const { hosts } = await issueControl(nc, infra.control, c);
    console.log(
      `${verb} ${host}: signed by ${signer.name}, recorded in agora-control${hosts.length ? `, acknowledged by ${hosts.join(", ")}` : ""}`,
    );
    if (verb !== "drain" || values["no-wait"]) return 0;
    const waitMs = parseDuration(String(values.wait ?? "60s"));
    const started = Date.now();
    const held = (p: typeof before) => [...p.leases].filter(([, l]) => l.host === host).map(([a]) => a);
    const moving = new Set(held(before));
    console.log(`waiting up to ${waitMs / 1000} s for ${moving.size} agent(s) to move off ${host} …`);
    for (;;) {
      // A read that fails while NATS fails over is retried until the wait runs out.
      const now = await readPlacement(infra.leases).catch(() => undefined);
      if (!now) {
        if (Date.now() - started > waitMs)
          throw new AgoraError(
            "AGORA_ERR_DRAIN_TIMEOUT",
            `cannot read agora-leases to follow the drain of ${host} within ${waitMs / 1000} s`,
          );
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      for (const agent of [...moving]) {
        const lease = now.leases.get(agent);
        if (lease && lease.host !== host) {
          console.log(`  ${agent}: ${host} → ${lease.host}  (${Date.now() - started} ms)`);
          moving.delete(agent);
        } else if (!lease && !config.agents.some((a) => a.name === agent)) moving.delete(agent);
      }
      const left = held(now);
      // Done when the host holds nothing and what it held runs elsewhere — or nowhere else can run it.
      const others = [...now.hosts.values()].filter((h) => h.host !== host && !h.draining);
      const homeless = [...moving].filter((a) => !others.some((h) => h.eligible.includes(a)));
      if (left.length === 0 && moving.size === homeless.length) {
        console.log(
          `host ${host} drained in ${Date.now() - started} ms${homeless.length ? `; not running anywhere now: ${homeless.join(", ")} (no other live host may run them)` : ""}`,
        );
        return 0;
      }
      if (Date.now() - started > waitMs) {
        throw new AgoraError(
          "AGORA_ERR_DRAIN_TIMEOUT",
          `host ${host} still holds ${left.join(", ")} after ${waitMs / 1000} s; is it running and connected? (agora status shows placement)`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  });
}

export const hostDrain: Command = {
  name: "host drain",
  usage: "host drain <host> [--wait 60s] [--no-wait]",
  summary:
    "Move every agent off <host> without losing or repeating a message, and keep it empty until 'agora host undrain'.",
  help: `The host finishes the message in hand for each agent, hands back what it had
fetched, and gives up the agent's lease; the other live hosts take the agents
and continue from their durable consumers and KV state. The drain is a signed
control (key of gateway.identity) recorded in KV, so it holds across restarts.
Waits until the host holds no agent and prints each move.

options:
${CONFIG_HELP}
      --wait DURATION how long to wait for the agents to move (default 60s)
      --no-wait       return once the drain is recorded`,
  options: { ...CONFIG_OPTION, wait: { type: "string" }, "no-wait": { type: "boolean" } },
  run: (args) => hostControl(hostDrain, "drain", args),
};

export const hostUndrain: Command = {
  name: "host undrain",
  usage: "host undrain <host>",
  summary: "Let a drained <host> take agents again; they move back as placement rebalances.",
  help: `options:
${CONFIG_HELP}`,
  options: { ...CONFIG_OPTION },
  run: (args) => hostControl(hostUndrain, "undrain", args),
};

export const kill: Command = {
  name: "kill",
  usage: "kill <name|*>",
  summary:
    "Stop an identity at once: a hosted agent gets no more messages; an external agent's or the bridge's sends are refused and dropped by every reader, recorded.",
  help: `The kill is a control signed with the operator's key (gateway.identity),
recorded in agora-control (it holds across restarts) and sent out of band to
every host; it never travels through a channel, so a flooded channel cannot
delay it. '*' kills every agent and external identity except the operator's.
Undo it with 'agora revive <name>'.

options:
${CONFIG_HELP}`,
  options: { ...CONFIG_OPTION },
  run: (args) => agentControl(kill, "kill", args),
};

export const revive: Command = {
  name: "revive",
  usage: "revive <name|*>",
  summary: "Lift a kill: the identity's messages are delivered again (a hosted agent marked failed is restarted).",
  help: `options:
${CONFIG_HELP}`,
  options: { ...CONFIG_OPTION },
  run: (args) => agentControl(revive, "revive", args),
};
