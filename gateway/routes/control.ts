// The kill switch and drains, out of band: signed control envelopes (never a channel).
import type { FastifyRequest } from "fastify";
import { ALL_AGENTS, HOST_VERBS, type ControlVerb } from "../../protocol/control.js";
import { AgoraError } from "../../protocol/errors.js";
import { isName } from "../../protocol/names.js";
import { trustedKey } from "../../trust/components.js";
import { parseComponentRef, refString } from "../../protocol/components.js";
import { ComponentRegistry, deployComponent, deployTargets } from "../../transport/component-registry.js";
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
    void recordSenderControl(infra.js, identity, config, c).then((err) => err && req.log.warn(String(err)));
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
  app.post<{ Body: { component?: unknown; agent?: unknown } }>("/api/deploy", operator, async (req) => {
    const ref = typeof req.body?.component === "string" ? parseComponentRef(req.body.component) : undefined;
    if (!ref) throw new AgoraError("AGORA_ERR_USAGE", "component must be <name>@<version>, e.g. voter@1.3.0");
    const agent = req.body?.agent;
    if (agent !== undefined && !isName(agent)) throw new AgoraError("AGORA_ERR_BAD_NAME", "agent must be a name");
    const agents = deployTargets(config, ref.name, agent);
    if (agents.length === 0)
      throw new AgoraError(
        "AGORA_ERR_BAD_NAME",
        agent === undefined
          ? `no hosted agent's component is ${ref.name}@…; name one as agent`
          : `no hosted agent ${agent}`,
      );
    const m = await deployComponent(
      await components(),
      infra.deploys,
      config.components.publishers,
      agents,
      ref,
      identity.name,
    );
    return { component: refString(ref), digest: m.digest, publisher: m.publisher, agents };
  });
}
