// The commit protocol's marker: one write per message (the claim), a replay refused, an interrupted attempt finished.
import { describe, expect, it } from "vitest";
import { Commits, DONE_MARKER, INFLIGHT } from "../../../host/runtime/commit.js";
import { markerKey, PROCESSED_BUCKET, walKey } from "../../../protocol/subjects.js";
import { responderAndVoter, startAgora, until } from "../../helpers/agora.js";

const marker = async (a: Awaited<ReturnType<typeof startAgora>>, agent: string, id: string) =>
  (await a.infra.processed.get(markerKey(agent, id)))?.string();

/** `agent`'s commits on the agora's buckets, with no lease fence. */
const commitsOf = (a: Awaited<ReturnType<typeof startAgora>>, agent: string) =>
  new Commits(agent, a.keys.loadOrGenerate(agent).privateKey, a.infra, () => {});

describe("commit - processed markers", () => {
  it("commit - the claim is the marker: another sequence is a duplicate, this one or inflight is ours, a retry says inflight", async () => {
    await using a = await startAgora({ channels: ["work"], agents: {} });
    const commits = commitsOf(a, "responder");
    expect(await commits.claim("m1", 5)).toBe(false); // first: claimed with its sequence
    expect(await marker(a, "responder", "m1")).toBe("5");
    expect(await commits.claim("m1", 5)).toBe(false); // the same message again (a redelivery): ours to finish
    expect(await commits.claim("m1", 9)).toBe(true); // the same id stored again (a replay): a duplicate
    await commits.unclaim("m1", 5); // the attempt failed and will be retried
    expect(await marker(a, "responder", "m1")).toBe(INFLIGHT);
    expect(await commits.claim("m1", 5)).toBe(false); // the retry takes it over
    expect(await marker(a, "responder", "m1")).toBe("5");
    await commits.refuse("m2", "AGORA_ERR_KILLED");
    expect(await commits.claim("m2", 6)).toBe(true); // refused before: never handled
  });

  it("commit - a batch's claims: a copy that lost never resets the winner's marker; an applied state commit makes its own redelivery a duplicate", async () => {
    await using a = await startAgora({ channels: ["work"], agents: {} });
    const commits = commitsOf(a, "voter");
    // Two copies of one id claimed at once (one batch): exactly one wins.
    const both = await Promise.all([commits.claim("x", 11), commits.claim("x", 12)]);
    expect(both.filter((seen) => !seen)).toHaveLength(1);
    const winner = both[0] ? 12 : 11;
    const loser = winner === 11 ? 12 : 11;
    // The copy that lost is dropped (killed, held): setting its claim back leaves the winner's marker alone.
    await commits.unclaim("x", loser);
    await commits.unclaim("x", loser, "rejected:AGORA_ERR_KILLED");
    expect(await marker(a, "voter", "x")).toBe(String(winner));
    // The winner is dropped instead: its marker goes back to inflight, and its next attempt takes it over.
    await commits.unclaim("x", winner);
    expect(await marker(a, "voter", "x")).toBe(INFLIGHT);
    expect(await commits.claim("x", winner)).toBe(false);
    // Its state commit is applied: the same message delivered again is a duplicate, not "ours to finish".
    const commit = commits.prepare("x", winner, [], [{ op: "set", key: "count", value: "1" }]);
    await commits.writeAhead(commit);
    await commits.apply(commit, async () => {});
    expect(await marker(a, "voter", "x")).toBe(`${DONE_MARKER}${winner}`);
    expect(await commits.claim("x", winner)).toBe(true);
    expect((await a.infra.processed.get(walKey("voter")))?.operation).toBe("DEL");
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
