// Writing agora-deploys: each change to an agent's deploy record is computed from
// the record it replaces (protocol/rollout.ts nextDeploy) and written with that
// record's revision, so two writers — an operator's promote and a host's automatic
// rollback, say — never overwrite each other unseen: the later one is recomputed.
import type { KV } from "@nats-io/kv";
import type { AgoraConfig } from "../config/config.js";
import { parseComponentRef, refString, type ComponentManifest, type ComponentRef } from "../protocol/components.js";
import { AgoraError } from "../protocol/errors.js";
import { verifyComponent } from "../trust/components.js";
import type { ComponentRegistry } from "./component-registry.js";
import { parseDeploy, parseRollout, type DeployRecord, type RolloutRecord } from "../protocol/records.js";
import { nextDeploy, type DeployChange } from "../protocol/rollout.js";
import { isWrongRevision } from "./jetstream-errors.js";

/** Attempts of one change against concurrent writers. */
const ATTEMPTS = 5;

/** `agent`'s deploy record now, with its revision (0: none); a malformed one reads as none. */
export async function readDeploy(kv: KV, agent: string): Promise<{ record?: DeployRecord; revision: number }> {
  const e = await kv.get(agent);
  if (!e || e.operation !== "PUT") return { revision: e?.revision ?? 0 };
  const record = parseDeploy(e.value);
  return { ...(record?.agent === agent ? { record } : {}), revision: e.revision };
}

/**
 * Apply `change` to `agent`'s deploy record (`configured`: the component its config names). Resolves with
 * the record written, or undefined when the change had nothing to do (a host's rollback of a canary
 * someone already replaced). Throws AGORA_ERR_NO_ROLLOUT / AGORA_ERR_USAGE as nextDeploy does.
 */
export async function changeDeploy(
  kv: KV,
  agent: string,
  configured: string,
  change: DeployChange,
  by: string,
): Promise<DeployRecord | undefined> {
  for (let attempt = 1; ; attempt++) {
    const { record, revision } = await readDeploy(kv, agent);
    const next = nextDeploy(agent, record, configured, change, by);
    if (!next) return undefined;
    try {
      const data = JSON.stringify(next);
      if (revision === 0) await kv.create(agent, data);
      else await kv.update(agent, data, revision);
      return next;
    } catch (err) {
      if (!isWrongRevision(err) || attempt >= ATTEMPTS) {
        throw isWrongRevision(err)
          ? new AgoraError("AGORA_ERR_USAGE", `the deploy record of ${agent} kept changing under this write; try again`)
          : err;
      }
    }
  }
}

/** What `agora deploy` (and POST /api/deploy) asks, before it is resolved to agents. */
export type DeployRequest =
  | { op: "deploy"; component: ComponentRef; agent?: string }
  | { op: "canary"; component: ComponentRef; percent: number; agent?: string }
  /** `name`: an agent, or a component name (the agents whose config names it); neither: every agent with a canary. */
  | { op: "promote" | "rollback"; name?: string; agent?: string; reason?: string };

/** The hosted agents a deploy of component `name` reaches: `agent`, or every agent whose config names `name`. */
export function deployTargets(config: AgoraConfig, name: string, agent?: string): string[] {
  const agents = config.agents.filter((a) =>
    agent !== undefined ? a.name === agent : parseComponentRef(a.component)?.name === name,
  );
  if (agents.length === 0)
    throw new AgoraError(
      "AGORA_ERR_BAD_NAME",
      agent !== undefined
        ? `no hosted agent ${agent} in the config`
        : `no hosted agent's config names component ${name}@…; name one with --agent`,
    );
  return agents.map((a) => a.name);
}

/**
 * The agents a promote or rollback reaches, and whether one was named: `agent`; else `name` as an agent;
 * else `name` as a component (the agents whose config names it); else every hosted agent.
 */
function rolloutTargets(config: AgoraConfig, name?: string, agent?: string): { agents: string[]; named: boolean } {
  if (agent !== undefined) return { agents: deployTargets(config, "", agent), named: true };
  if (name !== undefined && config.agents.some((a) => a.name === name)) return { agents: [name], named: true };
  return { agents: name === undefined ? config.agents.map((a) => a.name) : deployTargets(config, name), named: false };
}

/**
 * Carry out `request` as `by`: a component to deploy is checked first as a host checks it (a deploy
 * every host would refuse is not written). Resolves with the records written, by agent; a promote or
 * rollback over several agents skips those without a canary (AGORA_ERR_NO_ROLLOUT only when none had one).
 */
export async function applyDeploy(
  registry: () => Promise<ComponentRegistry>,
  kv: KV,
  config: AgoraConfig,
  request: DeployRequest,
  by: string,
): Promise<{ records: DeployRecord[]; manifest?: ComponentManifest }> {
  const configured = new Map(config.agents.map((a) => [a.name, a.component]));
  if (request.op === "deploy" || request.op === "canary") {
    const agents = deployTargets(config, request.component.name, request.agent);
    const { bytes, manifest } = await (await registry()).get(request.component);
    const m = verifyComponent(request.component, manifest, bytes, config.components.publishers);
    const component = refString(request.component);
    const change: DeployChange =
      request.op === "deploy" ? { op: "deploy", component } : { op: "canary", component, percent: request.percent };
    const records: DeployRecord[] = [];
    for (const a of agents) records.push((await changeDeploy(kv, a, configured.get(a)!, change, by))!);
    return { records, manifest: m };
  }
  // Several agents (none named): a rollback ends their canaries; an agent without one is left alone.
  const { agents, named } = rolloutTargets(config, request.name, request.agent);
  const change: DeployChange =
    request.op === "promote"
      ? { op: "promote" }
      : { op: "rollback", reason: request.reason ?? `by ${by}`, ...(named ? {} : { canaryOnly: true }) };
  const records: DeployRecord[] = [];
  let refusal: unknown;
  for (const a of agents) {
    try {
      const r = await changeDeploy(kv, a, configured.get(a)!, change, by);
      if (r) records.push(r);
    } catch (err) {
      if (!(err instanceof AgoraError && err.code === "AGORA_ERR_NO_ROLLOUT") || named) throw err;
      refusal = err;
    }
  }
  if (records.length === 0)
    throw refusal ?? new AgoraError("AGORA_ERR_NO_ROLLOUT", `no agent to ${request.op} (none has a canary)`);
  return { records };
}

/** An agent's deploy record and its latest rollout report (`agora rollout status`, GET /api/rollouts). */
export interface RolloutView {
  agent: string;
  deploy?: DeployRecord;
  rollout?: RolloutRecord;
}

/** The deploy and rollout records of `agents` (malformed ones read as none). */
export async function readRollouts(
  infra: { deploys: KV; rollouts: KV },
  agents: readonly string[],
): Promise<RolloutView[]> {
  return Promise.all(
    agents.map(async (agent) => {
      const { record: deploy } = await readDeploy(infra.deploys, agent);
      const r = await infra.rollouts.get(agent);
      const rollout = r?.operation === "PUT" ? parseRollout(r.value) : undefined;
      return { agent, ...(deploy ? { deploy } : {}), ...(rollout?.agent === agent ? { rollout } : {}) };
    }),
  );
}

/** What still needs `ref`: each hosted agent that runs it, has it as a canary or a previous version, or is configured with it. */
export async function usesOf(kv: KV, config: AgoraConfig, ref: ComponentRef): Promise<string[]> {
  const name = refString(ref);
  const uses: string[] = [];
  for (const { name: agent } of config.agents) {
    const { record: deploy } = await readDeploy(kv, agent);
    if (deploy?.component === name) uses.push(`agent ${agent} runs it (agora-deploys)`);
    if (deploy?.canary?.component === name) uses.push(`agent ${agent} runs it as a canary`);
    if (deploy?.previous === name) uses.push(`agent ${agent} returns to it on agora rollback`);
  }
  for (const a of config.agents) if (a.component === name) uses.push(`agent ${a.name} names it in the config`);
  return uses;
}
