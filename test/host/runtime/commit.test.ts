// The commit protocol's marker: one write per message (the claim), a replay refused, an interrupted attempt finished.
import { describe, expect, it } from "vitest";
import { Commits, INFLIGHT } from "../../../host/runtime/commit.js";
import { markerKey, PROCESSED_BUCKET, walKey } from "../../../protocol/subjects.js";
import { responderAndVoter, startAgora, until } from "../../helpers/agora.js";

const marker = async (a: Awaited<ReturnType<typeof startAgora>>, agent: string, id: string) =>
  (await a.infra.processed.get(markerKey(agent, id)))?.string();

describe("commit - processed markers", () => {
  it("commit - the claim is the marker: another sequence is a duplicate, this one or inflight is ours, a retry says inflight", async () => {
    await using a = await startAgora({ channels: ["work"], agents: {} });
    const { processed, state, timers } = a.infra;
    const commits = new Commits(
      "responder",
      a.keys.loadOrGenerate("responder").privateKey,
      { publisher: a.infra.publisher, processed, state, timers },
      () => {},
    );
    expect(await commits.claim("m1", 5)).toBe(false); // first: claimed with its sequence
    expect(await marker(a, "responder", "m1")).toBe("5");
    expect(await commits.claim("m1", 5)).toBe(false); // the same message again (a redelivery): ours to finish
    expect(await commits.claim("m1", 9)).toBe(true); // the same id stored again (a replay): a duplicate
    await commits.retrying("m1"); // the attempt failed and will be retried
    expect(await marker(a, "responder", "m1")).toBe(INFLIGHT);
    expect(await commits.claim("m1", 5)).toBe(false); // the retry takes it over
    expect(await marker(a, "responder", "m1")).toBe("5");
    await commits.refuse("m2", "AGORA_ERR_KILLED");
    expect(await commits.claim("m2", 6)).toBe(true); // refused before: never handled
  });

  it("commit - a message that only sends costs one marker write; a state commit deletes its WAL once applied", async () => {
    await using a = await startAgora(responderAndVoter("alice"));
    const host = await a.startHost();
    const alice = await a.client("alice");
    const writes = async () => (await a.infra.jsm.streams.info(`KV_${PROCESSED_BUCKET}`)).state.last_seq;
    const before = await writes();
    const n = 20;
    for (let i = 0; i < n; i++) await alice.send("work", "request", { n: i }, { hop: 1, id: `r${i}` });
    // Each request is handled by both agents (the voter only answers proposals: its calls change nothing);
    // the voter also handles the responder's n agrees, the responder drops their echoes.
    await until(() => host.handled().responder === n && host.handled().voter === 2 * n, 30_000, "all handled");
    // One marker write per (agent, message) handled, and nothing else in the bucket.
    expect((await writes()) - before).toBe(3 * n);
    for (let i = 0; i < n; i++) expect(Number(await marker(a, "responder", `r${i}`))).toBeGreaterThan(0);
    // A proposal: the voter counts it in its state (a WAL commit), then deletes the WAL entry.
    await alice.send("work", "propose", { cost: 1 }, { hop: 1, id: "p1" });
    await until(() => host.handled().voter === 2 * n + 1, 30_000, "the proposal handled");
    await until(
      async () => (await a.infra.processed.get(walKey("voter")))?.operation === "DEL",
      10_000,
      "the voter's WAL entry deleted",
    );
  });
});
