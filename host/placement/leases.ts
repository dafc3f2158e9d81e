// Lease I/O: every read and write of the agora-leases bucket — agents' leases
// (`agent.<name>`) and live hosts' records (`host.<name>`). Writes carry the
// expected revision, so each step of placement is atomic.
import type { KV, KvEntry } from "@nats-io/kv";
import { hostKey, leaseKey } from "../../protocol/subjects.js";
import { keysOf } from "../../transport/kv-list.js";
import { DEFAULT_LEASE_TTL_MS } from "../../config/defaults.js";
import { parseHostRecord, parseLease, type HostRecord, type LeaseRecord } from "../../protocol/records.js";

/** The bucket's TTL: how long a lease or host record lives without renewal. */
export async function leaseTtl(kv: KV): Promise<number> {
  return (await kv.status()).ttl || DEFAULT_LEASE_TTL_MS;
}

/** Take a free lease (atomic create); resolves with its revision. */
export function takeLease(kv: KV, agent: string, lease: LeaseRecord): Promise<number> {
  return kv.create(leaseKey(agent), JSON.stringify(lease));
}

/** Renew (or adopt) a lease at `revision`; fails with a wrong-revision error when someone else wrote it. */
export function renewLease(kv: KV, agent: string, lease: LeaseRecord, revision: number): Promise<number> {
  return kv.update(leaseKey(agent), JSON.stringify(lease), revision);
}

/** Give a lease back, only if it is still the one at `revision` (expired or taken: nothing to do). */
export async function releaseLease(kv: KV, agent: string, revision: number): Promise<void> {
  await kv.delete(leaseKey(agent), { previousSeq: revision }).catch(() => {});
}

export function readLease(kv: KV, agent: string): Promise<KvEntry | null> {
  return kv.get(leaseKey(agent));
}

/** Write a host's record: a put the first time (revision 0), then update-with-revision so a twin shows up. */
export function writeHostRecord(kv: KV, record: HostRecord, revision: number): Promise<number> {
  const data = JSON.stringify(record);
  return revision === 0 ? kv.put(hostKey(record.host), data) : kv.update(hostKey(record.host), data, revision);
}

export function readHostRecord(kv: KV, host: string): Promise<KvEntry | null> {
  return kv.get(hostKey(host));
}

/** Delete a host's record, only our own write (`revision` > 0). */
export async function removeHostRecord(kv: KV, host: string, revision: number): Promise<void> {
  if (revision > 0) await kv.delete(hostKey(host), { previousSeq: revision }).catch(() => {});
}

/** How long ago (ms) an entry was written, by the server's clock. */
export const ageOf = (e: KvEntry): number => Date.now() - e.created.getTime();

/** Who runs what now, read from the leases bucket: live hosts and the holder of each live lease. */
export async function readPlacement(
  kv: KV,
): Promise<{ hosts: Map<string, HostRecord>; leases: Map<string, LeaseRecord> }> {
  const ttl = await leaseTtl(kv);
  const hosts = new Map<string, HostRecord>();
  const leases = new Map<string, LeaseRecord>();
  for (const k of await keysOf(kv)) {
    const e = await kv.get(k);
    if (e?.operation !== "PUT" || ageOf(e) >= ttl) continue;
    const name = k.slice(k.indexOf(".") + 1);
    // A record no host wrote (not JSON, wrong shape) is skipped, never a crash.
    if (k.startsWith("host.")) {
      const r = parseHostRecord(e.value);
      if (r) hosts.set(name, r);
    } else if (k.startsWith("agent.")) {
      const r = parseLease(e.value);
      if (r) leases.set(name, r);
    }
  }
  return { hosts, leases };
}
