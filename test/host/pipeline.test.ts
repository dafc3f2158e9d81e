import { describe, expect, it } from "vitest";
import { parseEnvelope } from "../../protocol/envelope.js";
import { stateKey, STREAM } from "../../protocol/subjects.js";
import { responderAndVoter, startAgora, until } from "../helpers/agora.js";

describe("pipelined commits", () => {
  it("host - 400 messages at once: each answered once by its agent, the answers stored in the order of their messages, the voter's state exact", async () => {
    await using a = await startAgora(responderAndVoter("alice"));
    const host = await a.startHost();
    const alice = await a.client("alice");
    const n = 200;
    // All at once, requests and proposals interleaved: the responder's commits overlap (it only sends),
    // the voter's do not (it counts votes in its state). Each agent handles all 400, and the other's 200 answers.
    await Promise.all(
      Array.from({ length: 2 * n }, (_, i) =>
        i % 2 === 0
          ? alice.send("work", "request", { n: i }, { hop: 2, id: `r${i}` })
          : alice.send("work", "propose", { cost: i }, { hop: 2, id: `p${i}` }),
      ),
    );
    await until(
      () => host.handled().responder === 3 * n && host.handled().voter === 3 * n,
      60_000,
      "every message handled",
    );
    const last = (await a.infra.jsm.streams.info(STREAM)).state.last_seq;
    const requests = new Map<string, number>();
    const answers: { re: string; seq: number; sender: string }[] = [];
    for (let seq = 1; seq <= last; seq++) {
      const m = await a.infra.jsm.streams.getMessage(STREAM, { seq });
      if (!m?.subject.startsWith("agora.ch.")) continue;
      const env = parseEnvelope(m.data);
      if (env.sender === "alice") requests.set(env.id, seq);
      else if (env.re) answers.push({ re: env.re, seq, sender: env.sender });
    }
    for (const agent of ["responder", "voter"]) {
      const mine = answers.filter((x) => x.sender === agent);
      // Exactly one answer per request …
      expect(new Set(mine.map((x) => x.re)).size).toBe(n);
      expect(mine).toHaveLength(n);
      // … stored in the order the requests were stored.
      const order = mine.map((x) => requests.get(x.re)!);
      expect(order).toEqual([...order].sort((x, y) => x - y));
    }
    expect(host.counters.duplicate).toBe(0);
    expect((await a.infra.state.get(stateKey("voter", "votes")))?.string()).toBe(String(n));
  }, 120_000);
});
