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
