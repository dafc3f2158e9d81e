// agora components push|ls|show|verify|rm: the signed component registry.
import { readFileSync } from "node:fs";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadConfig, type AgoraConfig } from "../config/config.js";
import { ComponentLoader } from "../host/components/component-loader.js";
import { AGENT_WORLD, parseComponentRef, refString, type ComponentRef } from "../protocol/components.js";
import { AgoraError } from "../protocol/errors.js";
import { ADMIN_IDENTITY } from "../protocol/names.js";
import { ComponentRegistry } from "../transport/component-registry.js";
import { usesOf } from "../transport/deploys.js";
import { Kvm } from "@nats-io/kv";
import { DEPLOYS_BUCKET } from "../protocol/subjects.js";
import { signManifest, trustedKey, verifyComponent } from "../trust/components.js";
import { KeyStore } from "../trust/key-store.js";
import { CONFIG_HELP, CONFIG_OPTION, usageError, type Command } from "./command.js";
import { connectAs } from "./nats-url.js";

/** Run `f` on the registry, connected as `identity` (the admin writes, a host reads). */
async function withRegistry<T>(
  config: AgoraConfig,
  identity: string,
  f: (r: ComponentRegistry) => Promise<T>,
): Promise<T> {
  let nc: NatsConnection | undefined;
  try {
    nc = await connectAs(config, identity, "agora-components");
    return await f(
      await ComponentRegistry.open(nc, { create: identity === ADMIN_IDENTITY, replicas: config.nats.replicas }),
    );
  } finally {
    await nc?.drain().catch(() => {});
  }
}

export function refOf(cmd: Command, s: string | undefined): ComponentRef {
  const ref = s === undefined ? undefined : parseComponentRef(s);
  if (!ref)
    throw usageError(cmd, `name a component as <name>@<version>, e.g. voter@1.3.0 (got ${JSON.stringify(s ?? "")})`);
  return ref;
}

export const componentsPush: Command = {
  name: "components push",
  usage: "components push <file.wasm> --name NAME --version X.Y.Z --as PUBLISHER [--config FILE] [--json]",
  summary:
    "Store a component in the registry with a manifest (name, version, sha256 digest, world, imports) signed by a publisher key.",
  help: `The component is checked first, as a host would load it (a component importing
anything outside agora:agent is refused). The publisher's key is read from the
key directory (agora keys gen <publisher> makes one); hosts load it only if
components.publishers in their config lists that publisher's public key.
Pushing the same name and version again replaces it.

options:
${CONFIG_HELP}
      --name NAME         the component's name (a name: lowercase, digits, -)
      --version X.Y.Z     its version (semver)
      --as PUBLISHER      the publisher whose key signs the manifest
      --json              print the manifest as JSON`,
  options: {
    ...CONFIG_OPTION,
    name: { type: "string" },
    version: { type: "string" },
    as: { type: "string" },
    json: { type: "boolean" },
  },
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw usageError(componentsPush, "components push needs exactly one <file.wasm>");
    const ref = refOf(componentsPush, `${String(values.name ?? "")}@${String(values.version ?? "")}`);
    if (typeof values.as !== "string")
      throw usageError(componentsPush, "--as PUBLISHER is required: the key that signs");
    const config = loadConfig(values.config as string | undefined);
    const publisher = new KeyStore(config.keysDir).load(values.as);
    const file = positionals[0]!;
    const bytes = readFileSync(file);
    const loaded = await new ComponentLoader().loadBytes(file, bytes);
    const manifest = signManifest(publisher, ref, bytes, { world: AGENT_WORLD, imports: loaded.imports });
    await withRegistry(config, ADMIN_IDENTITY, (r) => r.push(manifest, bytes));
    if (values.json) console.log(JSON.stringify(manifest, null, 2));
    else
      console.log(`pushed ${refString(ref)}: ${manifest.digest}, ${manifest.size} bytes, signed by ${publisher.name}`);
    if (trustedKey(config.components.publishers, publisher.name) !== publisher.publicKey)
      console.error(
        `warning: ${publisher.name} is not a trusted publisher in ${config.file ?? "this config"}; hosts will refuse ${refString(ref)} until components.publishers.${publisher.name} is ${publisher.publicKey}`,
      );
    return 0;
  },
};

export const componentsLs: Command = {
  name: "components ls",
  usage: "components ls [--config FILE] [--json]",
  summary: "Every component in the registry: name@version, digest, size, publisher and whether this config trusts it.",
  help: `options:
${CONFIG_HELP}
      --json              print JSON`,
  options: { ...CONFIG_OPTION, json: { type: "boolean" } },
  async run({ values }) {
    const config = loadConfig(values.config as string | undefined);
    const list = await withRegistry(config, config.host.name, (r) => r.list());
    if (values.json) {
      console.log(JSON.stringify(list, null, 2));
      return 0;
    }
    if (list.length === 0) console.log("no components in the registry (agora components push adds one)");
    for (const c of list) {
      const m = c.manifest;
      const trusted = m && trustedKey(config.components.publishers, m.publisher) ? "trusted" : "NOT trusted";
      console.log(
        `${c.object.padEnd(28)}  ${m ? `${m.digest.slice(0, 19)}…  ${String(c.size).padStart(9)} B  ${m.publisher} (${trusted})` : "no manifest (unsigned)"}  ${c.modified}`,
      );
    }
    return 0;
  },
};

export const componentsShow: Command = {
  name: "components show",
  usage: "components show <name@version> [--config FILE]",
  summary: "A component's signed manifest, and whether this config's hosts would load it.",
  help: `Prints the manifest as JSON, then the verdict: OK, or the code a host would
refuse it with (exit 1).

options:
${CONFIG_HELP}`,
  options: { ...CONFIG_OPTION },
  async run({ values, positionals }) {
    return verifyRef(componentsShow, values, positionals, true);
  },
};

export const componentsVerify: Command = {
  name: "components verify",
  usage: "components verify <name@version> [--config FILE]",
  summary: "Check a stored component as a host would: a trusted publisher's signature, over exactly the stored bytes.",
  help: `Exits 0 when a host of this config would load it, 1 with the code otherwise.

options:
${CONFIG_HELP}`,
  options: { ...CONFIG_OPTION },
  async run({ values, positionals }) {
    return verifyRef(componentsVerify, values, positionals, false);
  },
};

async function verifyRef(
  cmd: Command,
  values: Record<string, string | boolean | undefined>,
  positionals: string[],
  show: boolean,
): Promise<number> {
  if (positionals.length !== 1) throw usageError(cmd, `${cmd.name} needs exactly one <name@version>`);
  const ref = refOf(cmd, positionals[0]);
  const config = loadConfig(values.config as string | undefined);
  const { bytes, manifest } = await withRegistry(config, config.host.name, (r) => r.get(ref));
  if (show) console.log(manifest ? JSON.stringify(manifest, null, 2) : "(no well-formed manifest)");
  try {
    const m = verifyComponent(ref, manifest, bytes, config.components.publishers);
    console.log(`OK: ${refString(ref)} ${m.digest}, signed by trusted publisher ${m.publisher}`);
    return 0;
  } catch (err) {
    if (!(err instanceof AgoraError)) throw err;
    console.log(`${err.code}: ${err.message}`);
    return 1;
  }
}

export const componentsRm: Command = {
  name: "components rm",
  usage: "components rm <name@version> [--force] [--config FILE]",
  summary: "Remove a component from the registry (hosts running it keep it until they restart it).",
  help: `A version an agent still needs is not removed (AGORA_ERR_COMPONENT_IN_USE): one it
runs or has as a canary (agora-deploys), its previous version (agora rollback
returns to it), or one its config names — a host that starts the agent later
would be refused. --force removes it anyway.

options:
${CONFIG_HELP}
      --force             remove it even if an agent still needs it`,
  options: { ...CONFIG_OPTION, force: { type: "boolean" } },
  async run({ values, positionals }) {
    if (positionals.length !== 1) throw usageError(componentsRm, "components rm needs exactly one <name@version>");
    const ref = refOf(componentsRm, positionals[0]);
    const config = loadConfig(values.config as string | undefined);
    const nc = await connectAs(config, ADMIN_IDENTITY, "agora-components");
    try {
      if (!values.force) {
        const uses = await usesOf(await new Kvm(nc).open(DEPLOYS_BUCKET), config, ref);
        if (uses.length > 0)
          throw new AgoraError(
            "AGORA_ERR_COMPONENT_IN_USE",
            `${refString(ref)} is still needed: ${uses.join("; ")} — deploy another version first, or --force`,
          );
      }
      const registry = await ComponentRegistry.open(nc, { create: true, replicas: config.nats.replicas });
      if (!(await registry.remove(ref)))
        throw new AgoraError(
          "AGORA_ERR_COMPONENT_NOT_FOUND",
          `${refString(ref)} is not in the registry (agora components ls)`,
        );
    } finally {
      await nc.drain().catch(() => {});
    }
    console.log(`removed ${refString(ref)}`);
    return 0;
  },
};
