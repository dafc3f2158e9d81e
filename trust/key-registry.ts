// KeyRegistry: who owns which public key — from config and the agora-keys KV bucket.
import type { KeyObject } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { AgoraError } from "../protocol/errors.js";
import { isName } from "../protocol/names.js";
import { isPublicKey, publicKeyObject } from "./signing.js";

/**
 * Public keys by agent name. Keys from the local key directory and from the
 * config are pinned; keys learned from the `agora-keys` bucket are first-seen
 * wins: a later different value, or a delete, is ignored (and counted), so
 * whoever can write the bucket cannot swap an identity's key under a running
 * process. Rotating a key therefore means restarting the processes that use it.
 */
export class KeyRegistry {
  private readonly keys = new Map<string, { raw: string; object: KeyObject; pinned: boolean }>();
  private stopWatch?: () => void;
  private following: Promise<void | Error> = Promise.resolve();
  /** KV updates that tried to change or delete a known key. */
  conflicts = 0;

  /** Pin `name` → `raw` (local key file or config): authoritative. */
  pin(name: string, raw: string): void {
    if (!isName(name) || !isPublicKey(raw)) return;
    this.keys.set(name, { raw, object: publicKeyObject(raw), pinned: true });
  }

  /** Learn `name` → `raw` from KV: first seen wins. */
  add(name: string, raw: string): void {
    if (!isName(name) || !isPublicKey(raw)) return;
    const existing = this.keys.get(name);
    if (existing) {
      if (existing.raw !== raw) this.conflicts++;
      return;
    }
    this.keys.set(name, { raw, object: publicKeyObject(raw), pinned: false });
  }

  /** Fetch `name` from the bucket now (a key registered a moment ago may not have been watched yet). */
  async refresh(kv: KV, name: string): Promise<KeyObject | undefined> {
    if (!isName(name)) return undefined;
    const entry = await kv.get(name).catch(() => null);
    if (entry && entry.operation === "PUT") this.add(name, entry.string());
    return this.get(name);
  }

  get(name: string): KeyObject | undefined {
    return this.keys.get(name)?.object;
  }

  raw(name: string): string | undefined {
    return this.keys.get(name)?.raw;
  }

  names(): string[] {
    return [...this.keys.keys()].sort();
  }

  /**
   * Publish `name`'s public key to KV. First registration wins: a different
   * key under a taken name is refused (AGORA_ERR_KEY_EXISTS) unless `force`.
   */
  static async publish(kv: KV, name: string, raw: string, options: { force?: boolean } = {}): Promise<void> {
    if (!isPublicKey(raw)) throw new AgoraError("AGORA_ERR_KEY_INVALID", `public key of ${name} is malformed`);
    const entry = await kv.get(name);
    const current = entry && entry.operation === "PUT" ? entry.string() : undefined;
    if (current === raw) return;
    if (current !== undefined && !options.force) {
      throw new AgoraError(
        "AGORA_ERR_KEY_EXISTS",
        `${name} is already registered with another public key (agora keys gen ${name} --force replaces it; running processes keep the old key until restarted)`,
      );
    }
    if (current === undefined && !options.force) {
      try {
        await kv.create(name, raw); // atomic: the first registration wins a race
      } catch {
        const again = await kv.get(name);
        if (again?.operation === "PUT" && again.string() === raw) return;
        throw new AgoraError("AGORA_ERR_KEY_EXISTS", `${name} was registered by someone else a moment ago`);
      }
      return;
    }
    await kv.put(name, raw);
  }

  /** Load every key in the bucket, then follow updates until close(). */
  async follow(kv: KV): Promise<void> {
    const watcher = await kv.watch();
    let stopped = false;
    this.stopWatch = () => {
      stopped = true;
      watcher.stop();
    };
    let ready!: () => void;
    const initial = new Promise<void>((resolve) => (ready = resolve));
    // The watcher first replays current values, then signals with an entry whose `delta` is 0.
    this.following = (async (): Promise<void | Error> => {
      try {
        for await (const e of watcher) {
          if (e.operation === "PUT") this.add(e.key, e.string());
          else if (this.keys.has(e.key)) this.conflicts++; // deletes never revoke a key in use
          if (e.delta === 0) ready();
        }
        return stopped ? undefined : new Error("the watch of the key bucket ended");
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      } finally {
        ready();
      }
    })();
    const status = await kv.status();
    if (status.values === 0) ready();
    await initial;
  }

  /** Resolves when following the bucket ends: undefined after close(), else why (keys learned later are then looked up on demand only). */
  closed(): Promise<void | Error> {
    return this.following;
  }

  close(): void {
    this.stopWatch?.();
  }
}
