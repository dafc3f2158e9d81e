// A batch of calls in one message to a worker: send-only calls run through, a call that writes
// state ends the batch, a halted (killed) agent starts no call of it, a call past its deadline is
// the only trap of its batch.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ComponentLoader, type LoadedComponent } from "../../../host/components/component-loader.js";
import { WorkerPool } from "../../../host/workers/worker-pool.js";
import type { Call, ComponentEnvelope } from "../../../host/workers/worker-protocol.js";
import type { Act } from "../../../protocol/envelope.js";
import { agentWasm, fixtureWasm } from "../../helpers/paths.js";

const env = (id: string, act: Act = "request"): ComponentEnvelope => ({
  v: 1,
  id,
  channel: "work",
  sender: "alice",
  act,
  body: "{}",
  hop: 8,
  ts: new Date().toISOString(),
  re: null,
  conv: null,
  sig: "x",
});
const calls = (ids: string[], act?: Act): Call[] => ids.map((id) => ({ env: env(id, act), now: Date.now() }));
const empty = { state: [] as [string, string][], timers: [] as string[] };

describe("worker batches", () => {
  const loader = new ComponentLoader();
  let pool: WorkerPool;
  let responder: LoadedComponent;
  let counter: LoadedComponent;
  let spinner: LoadedComponent;

  beforeAll(async () => {
    pool = new WorkerPool({ size: 1, deadlineMs: 300, loadState: async () => empty });
    responder = await loader.load(agentWasm("responder"));
    counter = await loader.load(fixtureWasm("counter"));
    spinner = await loader.load(fixtureWasm("spinner"));
    await pool.spawn("responder", [responder], ["work"], empty);
    await pool.spawn("counter", [counter], ["out"], empty);
    await pool.spawn("spinner", [spinner], ["work"], empty);
  }, 120_000);
  afterAll(() => pool.close());

  it("runs every call of a send-only batch, in order", async () => {
    const results = await pool.calls("responder", calls(["a", "b", "c", "d"]));
    expect(results.map((r) => [r.ok, r.notRun ?? false])).toEqual(Array(4).fill([true, false]));
    expect(results.map((r) => JSON.parse(r.sends[0]!.body))).toEqual(
      ["a", "b", "c", "d"].map((id) => ({ agreed: id })),
    );
  });

  it("ends the batch after a call that wrote state: the host commits it before the next call may see it", async () => {
    const results = await pool.calls("counter", calls(["1", "2", "3"]));
    expect(results[0]).toMatchObject({
      ok: true,
      state: expect.arrayContaining([{ op: "set", key: "count", value: "1" }]),
    });
    expect(results.slice(1).map((r) => r.notRun)).toEqual([true, true]);
    // Handed over again, the next one counts 2: the calls not run changed nothing.
    const next = await pool.calls("counter", calls(["2"]));
    expect(JSON.parse(next[0]!.sends[0]!.body)).toEqual({ n: 2 });
  });

  it("starts no call of a halted agent, and runs them again once it is let go", async () => {
    pool.halt("responder", true);
    const halted = await pool.calls("responder", calls(["e", "f"]));
    expect(halted.map((r) => r.notRun)).toEqual([true, true]);
    pool.halt("responder", false);
    const resumed = await pool.calls("responder", calls(["e", "f"]));
    expect(resumed.map((r) => r.ok)).toEqual([true, true]);
  });

  it("a call past its deadline is the batch's only trap; the calls around it are handed back", async () => {
    const batch = [...calls(["i1", "i2"], "inform"), ...calls(["spin"]), ...calls(["i3"], "inform")];
    const results = await pool.calls("spinner", batch);
    expect(results[2]).toMatchObject({ ok: false, trapped: true, error: { code: "AGORA_ERR_DEADLINE" } });
    for (const i of [0, 1, 3]) expect(results[i]).toMatchObject({ ok: false, retry: true });
    expect(pool.restarts).toBe(1);
    // The agents of the replaced worker come back from their state, and answer.
    const after = await pool.calls("responder", calls(["g"]));
    expect(after[0]!.ok).toBe(true);
  }, 30_000);
});
