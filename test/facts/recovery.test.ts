// Facts under failure: a file torn mid-record (power loss), and hostile host events.
import { describe, expect, it } from "vitest";
import { readdirSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { factFiles } from "../../facts/fact-log.js";
import { Recorder } from "../../facts/recorder.js";
import { verifyFacts } from "../../facts/verify.js";
import { eventSigningInput } from "../../protocol/events.js";
import { signBytes } from "../../trust/signing.js";
import { readFacts, startAgora, until } from "../helpers/agora.js";
import { agentWasm } from "../helpers/paths.js";

describe("facts recovery", () => {
  it("facts - a file torn mid-record: verify says exactly what is missing; the recorder resumes and re-records it from the stream", async () => {
    await using a = await startAgora({
      channels: ["work"],
      agents: { responder: { component: agentWasm("responder"), read: ["work"], write: ["work"] } },
      external: { maintainer: { write: ["work"] } },
    });
    const recorder = await a.startRecorder();
    const host = await a.startHost();
    const m = await a.client("maintainer");
    for (let i = 0; i < 20; i++) await m.send("work", "request", { i });
    await until(() => host.counters.emitted >= 20, 10_000, "replies");
    await a.settleFacts();
    await recorder.close();
    const dir = a.config.factsDir;
    const file = join(dir, factFiles(dir).at(-1)!);
    const size = statSync(file).size;
    truncateSync(file, size - 150); // power loss in the middle of the last record
    const torn = verifyFacts(dir);
    expect(torn.ok).toBe(false);
    expect(torn.truncated).toMatchObject({ after: expect.stringMatching(/^FACT-\d{9}$/) });
    const lastGood = Number(torn.truncated!.after!.slice(5));
    expect(torn.problems.find((p) => p.code === "AGORA_ERR_FACTS_FORMAT")?.message).toMatch(/cut short/);
    expect(torn.lastSeq).toBe(lastGood);
    console.log(`torn facts: verify reported "${torn.problems[0]!.message}"`);

    const logs: string[] = [];
    a.recorder = await Recorder.start({ config: a.config, nc: a.nc, log: (l) => logs.push(l) });
    await a.settleFacts();
    expect(logs.join("\n")).toMatch(/cut short .* re-recording from the stream/);
    expect(readdirSync(dir).some((f) => f.includes(".partial-"))).toBe(true);
    const healed = verifyFacts(dir);
    expect(healed.problems).toEqual([]);
    const last = (await a.infra.jsm.streams.info("AGORA")).state.last_seq;
    expect(lastGood).toBeLessThan(last);
    expect(healed.lastSeq).toBe(last);
    expect(healed.facts).toBe(last); // one fact per stream sequence, the torn one re-recorded
    expect(healed.missing).toEqual([]);
  });

  it("facts - a crash right after a rotation (newest file has only its header) does not restart the chain", async () => {
    await using a = await startAgora({ channels: ["work"], external: { maintainer: { write: ["work"] } } });
    const recorder = await a.startRecorder();
    const m = await a.client("maintainer");
    for (let i = 0; i < 5; i++) await m.send("work", "inform", { i });
    await a.settleFacts();
    await recorder.close();
    const dir = a.config.factsDir;
    const { writeFileSync } = await import("node:fs");
    const { FILE_HEADER } = await import("../../facts/yaml-writer.js");
    const current = factFiles(dir).at(-1)!; // facts-<day>-0000.yaml
    writeFileSync(join(dir, current.replace(/-\d{4}\.yaml$/, "-0001.yaml")), FILE_HEADER); // rotated, then the power went
    a.recorder = await Recorder.start({ config: a.config, nc: a.nc });
    await m.send("work", "inform", { after: true });
    await a.settleFacts();
    const report = verifyFacts(dir);
    expect(report.problems).toEqual([]);
    expect(report.facts).toBe(6);
  });

  it("facts - host events from a non-system identity, or malformed ones, become rejected facts and the chain stays valid", async () => {
    await using a = await startAgora({ channels: ["work"], external: { maintainer: { write: ["work"] } } });
    await a.startRecorder();
    const m = await a.client("maintainer");
    const forge = (event: Record<string, unknown>, key = m.identity.privateKey) => {
      const unsigned = { v: 1, ts: new Date().toISOString(), ...event };
      return JSON.stringify({ ...unsigned, sig: signBytes(key, eventSigningInput(unsigned as never)) });
    };
    // An external agent claiming to be a host.
    await a.infra.js.publish(
      "agora.ev.echo_dropped",
      forge({ type: "echo_dropped", agent: "responder", host: "maintainer", seq: 1, channel: "work", id: "x" }),
    );
    // A nested value where a name belongs, and a missing agent.
    await a.infra.js.publish("agora.ev.failed", forge({ type: "failed", agent: { x: 1 }, host: "maintainer" }));
    await a.infra.js.publish("agora.ev.failed", forge({ type: "failed", host: "maintainer" }));
    await a.infra.js.publish("agora.ev.bogus", "not json");
    await a.settleFacts();
    const facts = readFacts(a.config.factsDir);
    expect(facts.map((f) => f.type)).toEqual(["rejected", "rejected", "rejected", "rejected"]);
    expect(facts.map((f) => f.fields.code)).toEqual([
      "AGORA_ERR_BAD_SIGNATURE",
      "AGORA_ERR_BAD_ENVELOPE",
      "AGORA_ERR_BAD_ENVELOPE",
      "AGORA_ERR_BAD_JSON",
    ]);
    expect(verifyFacts(a.config.factsDir).problems).toEqual([]);
  });
});
