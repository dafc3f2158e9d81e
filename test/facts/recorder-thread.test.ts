import { rmSync } from "node:fs";
import { KeyStore } from "../../trust/key-store.js";
import { RECORDER_IDENTITY } from "../../protocol/names.js";
import { describe, expect, it } from "vitest";
import { RecorderThread } from "../../facts/recorder-thread.js";
import { verifyFacts } from "../../facts/verify.js";
import { readFacts, startAgora, until } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";

describe("recorder thread", () => {
  it("facts - the recorder on its own thread records every stream sequence once, chained and signed, and stops on close", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: { responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] } },
      external: { alice: { write: ["work"] } },
    });
    const host = await a.startHost();
    const logs: string[] = [];
    const recorder = await RecorderThread.start({ config: a.config, url: a.nats.url, log: (l) => logs.push(l) });
    const alice = await a.client("alice");
    for (let i = 0; i < 20; i++) await alice.send("work", "request", { n: i }, { hop: 2 });
    await until(() => host.handled().responder === 20, 20_000, "20 requests handled");
    const last = (await a.infra.jsm.streams.info("AGORA")).state.last_seq;
    await recorder.waitFor(last, 20_000);
    expect(recorder.lastSeq).toBeGreaterThanOrEqual(last);
    await recorder.close();
    expect(await recorder.closed()).toBeUndefined();
    const facts = readFacts(a.config.factsDir);
    expect(facts.map((f) => Number(f.fields.seq))).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    expect(facts.filter((f) => f.type === "speech-act" && f.fields.act === "agree")).toHaveLength(20);
    const report = verifyFacts(a.config.factsDir);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(logs.join("\n")).not.toMatch(/stopped/);
  }, 60_000);

  it("facts - a recorder thread that cannot start says why, with its code", async () => {
    await using a = await startAgora({ channels: ["work"] });
    rmSync(new KeyStore(a.config.keysDir).path(RECORDER_IDENTITY), { force: true });
    await expect(RecorderThread.start({ config: a.config, url: a.nats.url })).rejects.toMatchObject({
      code: "AGORA_ERR_KEY_MISSING",
    });
  }, 30_000);
});
