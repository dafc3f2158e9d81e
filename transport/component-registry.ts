// ComponentRegistry: components in a JetStream Object Store (`agora-components`),
// object `<name>@<version>` with its signed manifest in the object's metadata.
// Only the admin writes it (agora components push); hosts read it.
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { COMPONENTS_STORE } from "../protocol/subjects.js";
import {
  MANIFEST_KEY,
  MAX_COMPONENT_BYTES,
  parseManifest,
  refString,
  type ComponentManifest,
  type ComponentRef,
} from "../protocol/components.js";
import { AgoraError } from "../protocol/errors.js";

/** One stored component: its manifest as stored (undefined when missing or malformed) and size. */
export interface StoredComponent {
  object: string;
  manifest?: ComponentManifest;
  size: number;
  modified: string;
}

/** AGORA_ERR_TOO_LARGE for a component of more than MAX_COMPONENT_BYTES. */
function tooLarge(name: string, size: number): void {
  if (size > MAX_COMPONENT_BYTES)
    throw new AgoraError(
      "AGORA_ERR_TOO_LARGE",
      `${name} is ${size} bytes; a registry component is ${MAX_COMPONENT_BYTES} bytes at most`,
    );
}

export class ComponentRegistry {
  private constructor(private readonly store: ObjectStore) {}

  /** Open the store; `create` makes it (the admin, at start-up) with `replicas`. */
  static async open(nc: NatsConnection, options: { create?: boolean; replicas?: number } = {}) {
    const objm = new Objm(nc);
    const store = options.create
      ? await objm.create(COMPONENTS_STORE, { replicas: options.replicas ?? 1 })
      : await objm.open(COMPONENTS_STORE);
    return new ComponentRegistry(store);
  }

  /** Store `bytes` as `manifest`'s name@version (replacing an earlier push of the same one). */
  async push(manifest: ComponentManifest, bytes: Uint8Array): Promise<void> {
    tooLarge(refString(manifest), bytes.byteLength);
    await this.store.putBlob(
      { name: refString(manifest), metadata: { [MANIFEST_KEY]: JSON.stringify(manifest) } },
      bytes,
    );
  }

  /** The bytes and manifest of `ref`; AGORA_ERR_COMPONENT_NOT_FOUND when it is not there. */
  async get(ref: ComponentRef): Promise<{ bytes: Uint8Array; manifest?: ComponentManifest }> {
    const name = refString(ref);
    const info = await this.store.info(name);
    // The size is known before a byte is fetched: a huge object is refused, never read into memory.
    if (info && !info.deleted) tooLarge(name, info.size);
    const bytes = info && !info.deleted ? await this.store.getBlob(name) : null;
    if (!info || !bytes)
      throw new AgoraError(
        "AGORA_ERR_COMPONENT_NOT_FOUND",
        `${name} is not in the registry; push it with 'agora components push <file.wasm> --name ${ref.name} --version ${ref.version} --as <publisher>'`,
      );
    return { bytes, manifest: parseManifest(info.metadata?.[MANIFEST_KEY]) };
  }

  /** Every stored component, by name then version. */
  async list(): Promise<StoredComponent[]> {
    const infos = await this.store.list();
    return infos
      .filter((i) => !i.deleted)
      .map((i) => ({
        object: i.name,
        manifest: parseManifest(i.metadata?.[MANIFEST_KEY]),
        size: i.size,
        modified: i.mtime,
      }))
      .sort((a, b) => a.object.localeCompare(b.object));
  }

  /** Remove `ref`; false when it was not there. */
  async remove(ref: ComponentRef): Promise<boolean> {
    const info = await this.store.info(refString(ref));
    if (!info || info.deleted) return false;
    await this.store.delete(refString(ref));
    return true;
  }
}
