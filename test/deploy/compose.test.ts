// compose.yaml: 3 NATS nodes (JetStream, routes, websocket), 2 hosts, the gateway,
// an image built from the Dockerfile. `docker compose config` runs where docker has compose.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { loadConfig } from "../../config/config.js";
import { ROOT } from "../helpers/paths.js";

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: unknown;
}

describe("deploy", () => {
  const compose = parseYaml(readFileSync(join(ROOT, "compose.yaml"), "utf8"), { merge: true }) as {
    services: Record<string, Service>;
  };
  const s = compose.services;

  it("deploy - three NATS nodes with JetStream, cluster routes to the other two, and a websocket listener", () => {
    const conf = readFileSync(join(ROOT, "deploy", "nats.conf"), "utf8");
    expect(conf).toMatch(/jetstream\s*\{/);
    expect(conf).toMatch(/cluster\s*\{[^}]*listen: 0\.0\.0\.0:6222/);
    expect(conf).toMatch(/websocket\s*\{[^}]*port: 9222/);
    // Auth on: the nodes include the authorization the auth service generates before they start.
    expect(conf).toMatch(/^include \.\/auth\/agora-auth\.conf$/m);
    expect(s.auth!.command).toEqual(["nats-config", "--out", "/var/lib/agora/auth/agora-auth.conf"]);
    expect(s.auth!.volumes).toEqual(expect.arrayContaining(["auth:/var/lib/agora/auth", "keys:/var/lib/agora/keys"]));
    const nodes = ["nats-1", "nats-2", "nats-3"];
    for (const n of nodes) {
      const cmd = s[n]!.command!;
      expect(s[n]!.image).toMatch(/^nats:2\.(1\d|[2-9]\d)/); // ≥ 2.10 in the cluster
      expect(cmd).toContain("/etc/nats/nats.conf");
      expect(cmd[cmd.indexOf("-n") + 1]).toBe(n);
      const routes = cmd[cmd.indexOf("--routes") + 1]!.split(",");
      expect(routes.sort()).toEqual(
        nodes
          .filter((o) => o !== n)
          .map((o) => `nats://${o}:6222`)
          .sort(),
      );
      expect(s[n]!.volumes!.some((v) => v.endsWith(":/data"))).toBe(true);
      expect(s[n]!.volumes).toContain("auth:/etc/nats/auth:ro");
      expect(s[n]!.depends_on).toEqual({ auth: { condition: "service_completed_successfully" } });
    }
  });

  it("deploy - two hosts and the gateway on the agora image, talking to every node; the config is valid and R3", () => {
    for (const h of ["host-1", "host-2"]) {
      expect(s[h]!.command![0]).toBe("host");
      expect(s[h]!.environment!.AGORA_HOST_NAME).toBe(h);
      expect(s[h]!.environment!.NATS_URL.split(",")).toHaveLength(3);
      expect(s[h]!.build).toBe(".");
    }
    expect(s["host-2"]!.command).toContain("--no-facts"); // one recorder per deployment
    // Placement is by lease, so no host is pinned to agents; all share the agents' keys.
    for (const svc of ["host-1", "host-2", "gateway"]) {
      expect(s[svc]!.command).not.toContain("--agents");
      expect(s[svc]!.volumes).toContain("keys:/var/lib/agora/keys");
    }
    const config = loadConfig(join(ROOT, "deploy", "agora.cluster.yaml"), { AGORA_HOST_NAME: "host-1" });
    expect(config.nats.replicas).toBe(3);
    expect(config.hosts).toEqual(["host-1", "host-2"]);
    expect(s.gateway!.command).toEqual(["gateway"]);
    expect(s.gateway!.ports).toEqual(["127.0.0.1:8080:8080"]);
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/^FROM node:20/m);
    expect(dockerfile).toMatch(/RUN npm run build/);
    expect(dockerfile).toMatch(/ENTRYPOINT \["node", "dist\/cli\/main.js"\]/);
  });

  it("deploy - docker compose config accepts it (where docker has compose)", () => {
    const probe = spawnSync("docker", ["compose", "version"], { encoding: "utf8" });
    if (probe.status !== 0) {
      console.log("deploy: docker compose is not available here; the structure checks above stand in for it");
      return;
    }
    const r = spawnSync("docker", ["compose", "-f", join(ROOT, "compose.yaml"), "config", "-q"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
  });
});
