// Components in the registry for deploy and canary tests: fixture bytes signed
// by a publisher, and "new versions" of the same code with another digest.
import type { AgoraConfig } from "../../config/config.js";
import { AGENT_WORLD } from "../../protocol/components.js";
import { ComponentRegistry } from "../../transport/component-registry.js";
import { signManifest } from "../../trust/components.js";
import type { Identity } from "../../trust/key-store.js";
import type { NatsConnection } from "@nats-io/transport-node";

const IMPORTS = ["agora:agent/channels@0.1.0", "agora:agent/state@0.1.0", "agora:agent/types@0.1.0"];

/** The same component with a custom section appended: another digest, the same behaviour. */
export function withCustomSection(bytes: Uint8Array, name: string, data: string): Uint8Array {
  const enc = new TextEncoder();
  const n = enc.encode(name);
  const d = enc.encode(data);
  const payload = [n.length, ...n, ...d];
  if (payload.length > 127) throw new Error("keep the section short (one-byte LEB sizes)");
  return new Uint8Array([...bytes, 0, payload.length, ...payload]);
}

/** Push `versions` (`name@version` → bytes) signed by `publisher`. */
export async function pushSigned(
  nc: NatsConnection,
  publisher: Identity,
  versions: Record<string, Uint8Array>,
): Promise<void> {
  const registry = await ComponentRegistry.open(nc);
  for (const [ref, bytes] of Object.entries(versions)) {
    const [name, version] = ref.split("@") as [string, string];
    await registry.push(
      signManifest(publisher, { name, version }, bytes, { world: AGENT_WORLD, imports: IMPORTS }),
      bytes,
    );
  }
}

/** `config` trusting `publisher`'s components. */
export function trusting(config: AgoraConfig, publisher: Identity): AgoraConfig {
  return { ...config, components: { ...config.components, publishers: { [publisher.name]: publisher.publicKey } } };
}
