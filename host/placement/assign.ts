// assign: the target placement every host computes from the same view — pure,
// so every host agrees without talking to the others.

/**
 * The target assignment every host computes: an agent stays with its current
 * owner while that owner is live, may run it and is under its fair share;
 * everything else goes to the least-loaded live host that may run it.
 */
export function assign(
  agents: readonly string[],
  hosts: ReadonlyMap<string, readonly string[]>,
  owners: ReadonlyMap<string, string>,
): Map<string, string> {
  const names = [...hosts.keys()].sort();
  const target = new Map<string, string>();
  if (names.length === 0) return target;
  const load = new Map(names.map((h) => [h, 0]));
  const may = (h: string, a: string) => hosts.get(h)!.includes(a);
  const share = Math.ceil(agents.length / names.length);
  const sorted = [...agents].sort();
  for (const a of sorted) {
    const o = owners.get(a);
    if (o !== undefined && hosts.has(o) && may(o, a) && load.get(o)! < share) {
      target.set(a, o);
      load.set(o, load.get(o)! + 1);
    }
  }
  for (const a of sorted) {
    if (target.has(a)) continue;
    let best: string | undefined;
    for (const h of names) if (may(h, a) && (best === undefined || load.get(h)! < load.get(best)!)) best = h;
    if (best === undefined) continue;
    target.set(a, best);
    load.set(best, load.get(best)! + 1);
  }
  return target;
}
