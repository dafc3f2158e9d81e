// agora.yaml validation: schema errors name the bad key; grants reference declared channels.
import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { loadConfig, parseConfig } from "../../config/config.js";
import { AgoraError } from "../../protocol/errors.js";
import { ROOT } from "../helpers/paths.js";

function message(raw: unknown): string {
  try {
    parseConfig(raw, { baseDir: "/tmp", file: "agora.yaml" });
  } catch (err) {
    expect(err).toBeInstanceOf(AgoraError);
    expect((err as AgoraError).code).toBe("AGORA_ERR_CONFIG");
    return (err as Error).message;
  }
  throw new Error("config was accepted");
}

describe("config", () => {
  it("config - the shipped agora.yaml is valid and frozen", () => {
    const c = loadConfig(join(ROOT, "agora.yaml"), {});
    expect(c.channels).toEqual(["build-coord", "votes", "secret-ops"]);
    expect(c.agents.map((a) => a.name)).toEqual(["responder", "chatty-a", "chatty-b", "voter"]);
    expect(c.limits.dedupWindowMs).toBe(600_000);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.agents[0]!.read)).toBe(true);
  });

  it("config - errors name the bad key", () => {
    expect(message({ chanels: {} })).toContain("agora.yaml: chanels");
    expect(message({ agents: { a: { component: "x", reed: [] } } })).toContain("agents.a.reed");
    expect(message({ agents: { "Bad.Name": { component: "x" } } })).toContain("Bad.Name");
    expect(message({ limits: { hop: 99 } })).toContain("limits.hop");
    expect(message({ limits: { dedupWindow: "ten minutes" } })).toContain("limits.dedupWindow");
    expect(message({ agents: { a: {} } })).toContain("component");
    expect(message({ channels: { x: null }, agents: { a: { component: "c", read: ["y"] } } })).toContain(
      "agents.a.read: channel y is not declared",
    );
  });

  it("config - NATS_URL and AGORA_DATA override the file", () => {
    const c = parseConfig(
      { nats: { url: "nats://a:1" }, data: "d" },
      { baseDir: "/base", env: { NATS_URL: "nats://b:2", AGORA_DATA: "/data" } },
    );
    expect(c.nats.url).toBe("nats://b:2");
    expect(c.keysDir).toBe("/data/keys");
    expect(parseConfig({ data: "d" }, { baseDir: "/base", env: {} }).factsDir).toBe("/base/d/facts");
  });
});

describe("config - github", () => {
  const base = {
    channels: { "gh-acme-widgets": null },
    external: { "github-bridge": { read: ["gh-acme-widgets"], write: ["gh-acme-widgets"] } },
  };

  it("config - a bridged repository maps to gh-<owner>-<repo> by default", () => {
    const c = parseConfig(
      { ...base, github: { repos: { "Acme/Widgets": { decisionLabel: "agreed" } } } },
      { baseDir: "/tmp", env: {} },
    );
    expect(c.github?.repos).toEqual([{ repo: "Acme/Widgets", channel: "gh-acme-widgets", decisionLabel: "agreed" }]);
    expect(c.github?.apiUrl).toBe("https://api.github.com");
    expect(c.github?.tokenEnv).toBe("GITHUB_TOKEN");
  });

  it("config - the bridge's channel must be declared and granted to it", () => {
    expect(message({ channels: {}, github: { repos: { "a/b": null } } })).toContain("channel gh-a-b is not declared");
    expect(message({ channels: { "gh-a-b": null }, github: { repos: { "a/b": null } } })).toContain(
      "external.github-bridge.read",
    );
    expect(message({ ...base, github: { repos: { "not a repo": null } } })).toContain("github.repos");
    expect(message({ ...base, github: { repos: { "a/b": null }, token: "x" } })).toContain("github.token");
  });
});

describe("config - reserved names", () => {
  it("config - no agent may be named wal (its markers would reach the write-ahead logs), nor take agora's own identities", () => {
    expect(() =>
      parseConfig({ channels: { c: null }, agents: { wal: { component: "x.wasm" } } }, { baseDir: "/tmp", env: {} }),
    ).toThrow(/agents.wal: the name wal is reserved/);
    // An external agent writes its own markers `<name>.>`: as wal, that would be every write-ahead log.
    expect(() => parseConfig({ channels: { c: null }, external: { wal: {} } }, { baseDir: "/tmp", env: {} })).toThrow(
      /external.wal: the name wal is reserved/,
    );
    for (const name of ["agora-admin", "recorder"]) {
      expect(() =>
        parseConfig({ channels: { c: null }, external: { [name]: {} } }, { baseDir: "/tmp", env: {} }),
      ).toThrow(/is reserved for agora's own/);
      expect(() => parseConfig({ channels: { c: null }, host: { name } }, { baseDir: "/tmp", env: {} })).toThrow(
        /host.name: the name .* is reserved/,
      );
    }
  });
});
