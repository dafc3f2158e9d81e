// The agora CLI, run as a process from the sources.
import { describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/paths.js";
import { startNats } from "../helpers/nats-server.js";
import { connectNats } from "../../transport/connect.js";
import { COMMANDS as ALL, resolveCommand } from "../../cli/commands.js";
import { helpText, parse } from "../../cli/command.js";
import { CLI_ARGS } from "../helpers/cli.js";

const COMMANDS = [
  "up",
  "host",
  "gateway",
  "bridge",
  "status",
  "agents",
  "trace",
  "convs",
  "send",
  "watch",
  "keys gen",
  "facts verify",
  "components push",
  "components ls",
  "components show",
  "components verify",
  "components rm",
  "deploy",
  "rollback",
  "rollout status",
  "nats-config",
  "demo",
];

function agora(args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT) {
  const r = spawnSync(process.execPath, [...CLI_ARGS, ...args], {
    cwd,
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function tempConfig(extra = ""): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), "agora-cli-"));
  const file = join(dir, "agora.yaml");
  writeFileSync(
    file,
    `data: ${join(dir, "data")}
channels:
  build-coord: {}
agents:
  responder: { component: ${join(ROOT, "dist", "agents", "responder.wasm")}, read: [build-coord], write: [build-coord] }
external:
  maintainer: { write: [build-coord] }
${extra}`,
  );
  return { dir, file };
}

describe("cli", () => {
  it("cli - every command has --help", () => {
    const top = agora(["--help"]);
    expect(top.code).toBe(0);
    // Resolved and parsed as main() does, in this process (a process per command costs seconds each).
    expect(COMMANDS.every((name) => ALL.some((c) => c.name === name))).toBe(true);
    for (const { name } of ALL) {
      expect(top.out).toContain(name);
      const { cmd, rest } = resolveCommand([...name.split(" "), "--help"]);
      expect(cmd?.name, name).toBe(name);
      expect(parse(cmd!, rest), name).toBe("help");
      expect(helpText(cmd!)).toContain(`usage: agora ${name}`);
    }
    // And once through a process, end to end.
    const r = agora(["rollout", "status", "--help"]);
    expect([r.code, r.out]).toEqual([0, expect.stringContaining("usage: agora rollout status")]);
  });

  it("cli - usage errors are coded and point to --help", () => {
    const none = agora([]);
    expect(none.code).toBe(2);
    const unknown = agora(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("AGORA_ERR_USAGE");
    const flag = agora(["send", "--bogus"]);
    expect(flag.code).toBe(2);
    expect(flag.err).toMatch(/AGORA_ERR_USAGE.*send --help/);
    const missing = agora(["send", "build-coord", "request"]);
    expect(missing.code).toBe(2);
  });

  it("cli - a bad config names the bad key", () => {
    const { file } = tempConfig("limits:\n  hops: 3\n");
    const r = agora(["send", "build-coord", "request", "{}", "--as", "maintainer", "--config", file]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("AGORA_ERR_CONFIG");
    expect(r.err).toContain("limits.hops");
    const { file: f2 } = tempConfig("agents2: {}\n");
    expect(agora(["host", "--config", f2]).err).toContain("agents2");
  });

  it("cli - keys gen writes a 0600 key and refuses to overwrite", () => {
    const { file, dir } = tempConfig();
    const r = agora(["keys", "gen", "alice", "--no-publish", "--config", file]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/public key: [A-Za-z0-9_-]{43}/);
    expect(statSync(join(dir, "data", "keys", "alice.key")).mode & 0o777).toBe(0o600);
    const again = agora(["keys", "gen", "alice", "--no-publish", "--config", file]);
    expect(again.code).toBe(1);
    expect(again.err).toContain("AGORA_ERR_KEY_EXISTS");
    expect(agora(["keys", "gen", "Bad.Name", "--no-publish", "--config", file]).err).toContain("AGORA_ERR_BAD_NAME");
  });

  it("cli - send signs with the identity's key, watch shows it verified, facts verify checks the log (auth on)", async () => {
    const { file, dir } = tempConfig();
    expect(agora(["keys", "gen", "maintainer", "--no-publish", "--config", file]).code).toBe(0);
    // A nats-server we run ourselves, with the authorization agora generates (keys made for the rest).
    const conf = agora(["nats-config", "--config", file, "--out", join(dir, "auth.conf")]);
    expect(conf.code, conf.err).toBe(0);
    expect(conf.err).toMatch(/generated keys for agora-admin, host, recorder, operator/);
    await using nats = await startNats({ args: ["-c", join(dir, "auth.conf")] });
    const env = { NATS_URL: nats.url };
    const host = spawn(process.execPath, [...CLI_ARGS, "host", "--config", file], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let hostOut = "";
    host.stdout.on("data", (d) => (hostOut += d));
    try {
      for (let i = 0; i < 200 && !hostOut.includes("running 1 agent"); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(hostOut).toContain("running 1 agent");
      const sent = agora(
        ["send", "build-coord", "request", '{"task":"build"}', "--as", "maintainer", "--config", file],
        env,
      );
      expect(sent.code).toBe(0);
      // After the host's agent-started event (seq 1).
      expect(sent.out).toMatch(/sent request \S+ on build-coord as maintainer \(hop 3, stream seq 2\)/);
      const plain = agora(["send", "build-coord", "inform", "just words", "--as", "maintainer", "--config", file], env);
      expect(plain.code).toBe(0);
      const w = agora(["watch", "build-coord", "--all", "--count", "3", "--config", file], env);
      expect(w.code).toBe(0);
      const lines = w.out.trim().split("\n");
      expect(lines[0]).toMatch(/maintainer → build-coord {2}request {2}hop=3 .*\[sig ok\] {2}\{"task":"build"\}/);
      expect(w.out).toMatch(/responder → build-coord {2}agree {2}hop=2 .*re=\S+ {2}\[sig ok\]/);
      expect(w.out).toContain('"just words"');
      const unknown = agora(["send", "nope", "request", "{}", "--as", "maintainer", "--config", file], env);
      expect(unknown.err).toContain("AGORA_ERR_UNKNOWN_CHANNEL");
    } finally {
      host.kill("SIGTERM");
      await new Promise((r) => host.once("exit", r));
    }
    expect(hostOut).toContain("SIGTERM: draining");
    const v = agora(["facts", "verify", join(dir, "data", "facts")]);
    expect(v.out).toContain("OK: facts verify");
    expect(v.code).toBe(0);
    const bad = agora(["facts", "verify", dir]);
    expect(bad.code).toBe(1);
  });

  it("cli - demo cross-talk converges on the hop budget with the expected counts", () => {
    const r = agora(["demo", "cross-talk", "--json"]);
    expect(r.code, r.err).toBe(0);
    const counts = JSON.parse(r.out);
    console.log(`demo cross-talk: ${JSON.stringify(counts)}`);
    expect(counts.byHop).toEqual({ 3: 1, 2: 2, 1: 2, 0: 2 });
    expect(counts.published).toBe(7);
    expect(counts.handled).toEqual({ "chatty-a": 4, "chatty-b": 4 });
    expect(counts.uniquePairs).toBe(8);
    expect(counts.echoDropped).toBe(6);
    // Recorded as one fact per agent and window, whose counts add up to every drop.
    expect(counts.echoesRecorded).toBe(6);
    expect(counts.echoFacts).toBeGreaterThanOrEqual(2);
    expect(counts.hopExhausted).toBe(2);
    expect(counts.secretDelivered).toBe(0);
    expect(counts.replayDropped).toBe(true);
    // 7 acts on build-coord, the secret, 2 hop-0 drops, and each agent's start (the component it runs).
    expect(counts.facts - counts.echoFacts).toBe(12);
    expect(counts.factsVerified).toBe(true);
  });
});

describe("cli - protocol demos", () => {
  it("cli - demo ballot and demo contract-net come out as promised, with their facts verified", () => {
    for (const name of ["ballot", "contract-net"]) {
      const r = agora(["demo", name, "--json"]);
      expect(r.code, r.err + r.out).toBe(0);
      const result = JSON.parse(r.out) as { ok: boolean; rows: [string, string][]; factsVerified: boolean };
      console.log(`demo ${name}: ${result.rows.map(([k, v]) => `${k.trim()}: ${v}`).join("; ")}`);
      expect(result).toMatchObject({ ok: true, factsVerified: true });
    }
  });
});

describe("cli - agora up", () => {
  it("cli - up starts nats-server, host, recorder and console; prints the URL and token; the console works; Ctrl-C stops it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agora-up-"));
    const file = join(dir, "agora.yaml");
    writeFileSync(
      file,
      `data: ${join(dir, "data")}
nats: { port: 0 }
gateway: { port: 0 }
channels: { build-coord: {} }
agents:
  responder: { component: ${join(ROOT, "dist", "agents", "responder.wasm")}, read: [build-coord], write: [build-coord] }
external:
  operator: { write: [build-coord] }
  console-user: { browser: true, write: [build-coord] }
`,
    );
    const env = { ...process.env };
    delete env.NATS_URL;
    const up = spawn(process.execPath, [...CLI_ARGS, "up", "--config", file], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    up.stdout.on("data", (d) => (out += d));
    up.stderr.on("data", (d) => (out += d));
    try {
      for (let i = 0; i < 300 && !out.includes("Ctrl-C stops"); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain("starting nats-server -js");
      const url = /console: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1];
      const token = /operator token: (\S+)/.exec(out)?.[1];
      expect(url, out).toBeTruthy();
      const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      // Out of the box, NATS refuses anyone without one of agora's keys.
      const natsUrl = readFileSync(join(dir, "data", "nats.url"), "utf8").trim();
      await expect(connectNats({ url: natsUrl, name: "anonymous", timeoutMs: 2000 })).rejects.toThrow(
        /AGORA_ERR_NATS_CONNECT|Authorization Violation/,
      );
      const agents = (await (await fetch(`${url}/api/agents`, { headers: auth })).json()) as {
        name: string;
        status: string;
      }[];
      expect(agents.find((a) => a.name === "responder")?.status).toBe("running");
      const key = await fetch(`${url}/api/keys`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ name: "console-user", publicKey: "B".repeat(43) }),
      });
      expect(key.status).toBe(200); // the browser identity was left for the browser
      const inject = await fetch(`${url}/api/inject`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ channel: "build-coord", act: "request", body: { from: "e2e" } }),
      });
      expect(inject.status).toBe(200);
      await fetch(`${url}/api/kill`, { method: "POST", headers: auth, body: JSON.stringify({ agent: "responder" }) });
      const st = agora(["status", "--config", file, "--json"], { NATS_URL: "" });
      expect(st.code, st.err).toBe(0);
      expect(JSON.parse(st.out).agents).toEqual([
        expect.objectContaining({ agent: "responder", status: "killed", host: "host" }),
      ]);
    } finally {
      up.kill("SIGINT");
      await new Promise((r) => up.once("exit", r));
    }
    expect(out).toMatch(/agora: [0-9:.]+ stopped/);
  });
});
