// The public face: `import { connect } from "agora"` — an external agent signs
// with its own key and is verified like any other sender.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AgoraError, connect, type Envelope } from "../../sdk/index.js";
import { channelSubject, STREAM } from "../../protocol/subjects.js";
import { startAgora, until } from "../helpers/agora.js";
import { ROOT } from "../helpers/paths.js";

/** A responder on build-coord, and maintainer, who may write and read there. */
const RESPONDER = {
  channels: ["build-coord"],
  agents: {
    responder: {
      component: join(ROOT, "dist", "agents", "responder.wasm"),
      read: ["build-coord"],
      write: ["build-coord"],
    },
  },
  external: { maintainer: { read: ["build-coord"], write: ["build-coord"] } },
};

describe("sdk", () => {
  it("sdk - connect with the agent's own key, send, and the hosted agent answers what it verified", async () => {
    await using a = await startAgora(RESPONDER);
    await a.client("maintainer"); // key made and registered
    const host = await a.startHost();
    await using agent = await connect({ name: "maintainer", keyFile: a.keys.path("maintainer"), servers: a.nats.url });
    const { env, ack } = await agent.send("build-coord", "request", { task: "build" });
    expect(env).toMatchObject({ sender: "maintainer", channel: "build-coord", act: "request", hop: 3 });
    expect(ack.duplicate).toBe(false);
    await until(() => host.counters.emitted >= 1, 10_000, "the responder's answer");
    const stored = await a.infra.jsm.streams.getMessage(STREAM, { last_by_subj: channelSubject("build-coord") });
    expect((stored!.json() as Envelope).re).toBe(env.id);
  });

  it("sdk - a conversation as the agent saw it: requested, then agreed by the answer; cancel ends it for every reader", async () => {
    await using a = await startAgora(RESPONDER);
    await a.startRecorder();
    await a.startHost();
    await using agent = await connect({
      name: "maintainer",
      keysDir: a.config.keysDir,
      servers: a.nats.url,
      config: a.config,
    });
    const [answer] = await agent.request("build-coord", "request", { task: "build" }, { timeoutMs: 10_000 });
    const conv = answer!.conv!;
    expect(agent.conversation(conv)).toMatchObject({
      conv,
      state: "agreed",
      initiator: "maintainer",
      participants: ["maintainer", "responder"],
      acts: 2,
    });
    const { env: cancel } = await agent.cancel("build-coord", conv, { reason: "not needed" });
    await until(() => agent.conversation(conv)?.state === "cancelled", 10_000, "the cancel in force");
    expect(agent.conversation(conv)!.cancelledBy).toBe(cancel.id);
    await expect(agent.send("build-coord", "inform", { more: 1 }, { conv })).rejects.toMatchObject({
      code: "AGORA_ERR_CANCELLED",
    });
  });

  it("sdk - request() drops an answer that comes after its conversation was cancelled", async () => {
    await using a = await startAgora(RESPONDER);
    await a.startRecorder(); // no host: the test answers as the responder, when it chooses
    await using agent = await connect({
      name: "maintainer",
      keysDir: a.config.keysDir,
      servers: a.nats.url,
      config: a.config,
    });
    const responder = await a.client("responder"); // its key, through the admin's connection
    const requests = new Map<string, string>(); // conv → the request's id
    const sub = a.nc.subscribe(channelSubject("build-coord"), {
      callback: (_err, m) => {
        const env = m.json<Envelope>();
        if (env.act === "request" && env.re === undefined) requests.set(env.conv ?? env.id, env.id);
      },
    });
    try {
      const answer = async (conv: string) => {
        await until(() => requests.has(conv), 10_000, `the request in ${conv}`);
        await responder.send("build-coord", "agree", {}, { re: requests.get(conv)!, conv, hop: 2 });
      };
      const { env: kept } = await agent.send("build-coord", "inform", { open: "kept" });
      const { env: ended } = await agent.send("build-coord", "inform", { open: "ended" });
      // Answered in a live conversation: taken (the control: the answer itself is good).
      const live = agent.request("build-coord", "request", {}, { conv: kept.id, timeoutMs: 10_000 });
      await answer(kept.id);
      expect((await live)[0]).toMatchObject({ sender: "responder", conv: kept.id });
      // The same answer after the conversation was cancelled: dropped, so the request times out.
      const late = agent.request("build-coord", "request", {}, { conv: ended.id, timeoutMs: 4000 });
      const settled = late.then(
        () => "answered",
        (err: AgoraError) => err.code,
      );
      await until(() => requests.has(ended.id), 10_000, "the second request");
      await agent.cancel("build-coord", ended.id);
      await until(() => agent.conversation(ended.id)?.state === "cancelled", 10_000, "the cancel in force");
      await answer(ended.id);
      expect(await settled).toBe("AGORA_ERR_REQUEST_TIMEOUT");
    } finally {
      sub.unsubscribe();
    }
  });

  it("sdk - connect without a key, or to no server, fails with a code that says what to do", async () => {
    await expect(connect({ name: "x" })).rejects.toMatchObject({ code: "AGORA_ERR_KEY_MISSING" });
    await expect(connect({ name: "Bad.Name" })).rejects.toBeInstanceOf(AgoraError);
    await expect(connect({ name: "nobody", keysDir: "/nonexistent" })).rejects.toMatchObject({
      code: "AGORA_ERR_KEY_MISSING",
    });
  });

  it("sdk - the package resolves as 'agora' to the built SDK with its type declarations", () => {
    const built = join(ROOT, "dist", "sdk", "index.js");
    if (!existsSync(built)) throw new Error(`${built} is missing: run npm run build`);
    expect(existsSync(join(ROOT, "dist", "sdk", "index.d.ts"))).toBe(true);
    const out = execFileSync(
      process.execPath,
      ["--input-type=module", "-e", 'import { connect, ACTS } from "agora"; console.log(typeof connect, ACTS.length)'],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(out.trim()).toBe("function 22");
  });
});
