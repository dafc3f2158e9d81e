// The kill switch and drains, out of band: signed control envelopes (never a channel).
import type { FastifyRequest } from "fastify";
import { ALL_AGENTS, HOST_VERBS, type ControlVerb } from "../../protocol/control.js";
import { AgoraError } from "../../protocol/errors.js";
import { isName } from "../../protocol/names.js";
import { trustedKey } from "../../trust/components.js";
import { parseComponentRef, refString } from "../../protocol/components.js";
import { ComponentRegistry } from "../../transport/component-registry.js";
import { applyDeploy, readRollouts, type DeployRequest } from "../../transport/deploys.js";
import { parseCanaryPercent } from "../../protocol/rollout.js";
import { issueControl, recordSenderControl } from "../../transport/control-plane.js";
import { makeControl } from "../../trust/control.js";
import { killTarget } from "../../config/config.js";
import type { FastifyInstance } from "fastify";
import type { GatewayContext } from "./context.js";

export async function controlRoutes(app: FastifyInstance, { ctx }: { ctx: GatewayContext }): Promise<void> {
  const { config, nc, infra, identity, operator } = ctx;
  const control = (verb: ControlVerb) => async (req: FastifyRequest<{ Body: { agent?: unknown; host?: unknown } }>) => {
    const forHost = HOST_VERBS.has(verb);
    const target = forHost ? req.body?.host : req.body?.agent;
    if (forHost ? !isName(target) : target !== ALL_AGENTS && !(isName(target) && killTarget(config, target))) {
      throw new AgoraError(
        "AGORA_ERR_BAD_NAME",
        forHost
          ? "host must be a host name"
          : `agent must be a hosted agent of the config, an external identity (not the operator's own), or "*"`,
      );
    }
    const started = performance.now();
    const c = makeControl(verb, target as string, { name: identity.name, key: identity.privateKey });
    const { hosts } = await issueControl(nc, infra.control, c, { expect: ctx.hub.directory.liveHosts() });
    // Hosts record what happens to their agents; the gateway records the identities whose sends the kill stops.
    void recordSenderControl(infra.publisher, identity, config, c).then((err) => err && req.log.warn(String(err)));
    return {
      [forHost ? "host" : "agent"]: target,
      verb,
      id: c.id,
      hosts,
      ms: Math.round((performance.now() - started) * 10) / 10,
    };
  };
  app.post<{ Body: { agent?: unknown } }>("/api/kill", operator, control("kill"));
  app.post<{ Body: { agent?: unknown } }>("/api/revive", operator, control("revive"));
  app.post<{ Body: { host?: unknown } }>("/api/drain", operator, control("drain"));
  app.post<{ Body: { host?: unknown } }>("/api/undrain", operator, control("undrain"));

  // Deploys: which registry component an agent runs. Checked as a host would check it before it is written.
  let registry: Promise<ComponentRegistry> | undefined;
  const components = () =>
    (registry ??= ComponentRegistry.open(nc).catch((cause: unknown) => {
      registry = undefined;
      throw new AgoraError("AGORA_ERR_COMPONENT_NOT_FOUND", "the component registry is not there yet", { cause });
    }));
  app.get("/api/components", ctx.viewer, async () =>
    (await (await components()).list()).map((c) => ({
      ...c,
      trusted: c.manifest !== undefined && trustedKey(config.components.publishers, c.manifest.publisher) !== undefined,
    })),
  );
  // { component, agent?, canary? } deploys (all at once, or a canary on canary % of the conversations);
  // { promote: true } or { rollback: true } (with agent? / name?) ends a rollout either way.
  app.post<{
    Body: {
      component?: unknown;
      agent?: unknown;
      canary?: unknown;
      promote?: unknown;
      rollback?: unknown;
      name?: unknown;
    };
  }>("/api/deploy", operator, async (req) => {
    const body = req.body ?? {};
    const agent = body.agent;
    if (agent !== undefined && !isName(agent)) throw new AgoraError("AGORA_ERR_BAD_NAME", "agent must be a name");
    const name = body.name;
    if (name !== undefined && !isName(name)) throw new AgoraError("AGORA_ERR_BAD_NAME", "name must be a name");
    const target = { ...(agent !== undefined ? { agent } : {}) };
    let request: DeployRequest;
    if (body.promote === true || body.rollback === true) {
      if (body.promote === true && body.rollback === true)
        throw new AgoraError("AGORA_ERR_USAGE", "promote or rollback, not both");
      request = { op: body.promote === true ? "promote" : "rollback", ...target, ...(name ? { name } : {}) };
    } else {
      const component = typeof body.component === "string" ? parseComponentRef(body.component) : undefined;
      if (!component) throw new AgoraError("AGORA_ERR_USAGE", "component must be <name>@<version>, e.g. voter@1.3.0");
      request = { op: "deploy", component, ...target };
      if (body.canary !== undefined) {
        const percent =
          typeof body.canary === "number" || typeof body.canary === "string"
            ? parseCanaryPercent(String(body.canary))
            : undefined;
        if (percent === undefined)
          throw new AgoraError("AGORA_ERR_USAGE", 'canary is a share strictly between 0 and 100 (e.g. 20 or "20%")');
        request = { ...request, op: "canary", percent };
      }
    }
    const { records, manifest } = await applyDeploy(components, infra.deploys, config, request, identity.name);
    return {
      records,
      ...(manifest
        ? {
            component: refString(manifest),
            digest: manifest.digest,
            publisher: manifest.publisher,
          }
        : {}),
      agents: records.map((r) => r.agent),
    };
  });
  // What each hosted agent runs, and how its canary rollout goes (as `agora rollout status`).
  app.get("/api/rollouts", ctx.viewer, () =>
    readRollouts(
      infra,
      config.agents.map((a) => a.name),
    ),
  );
}
