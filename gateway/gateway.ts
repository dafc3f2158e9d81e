// Gateway: the operator edge — connects to NATS, follows the stream, serves the app.
import type { NatsConnection } from "@nats-io/transport-node";
import type { FastifyInstance } from "fastify";
import type { AgoraConfig } from "../config/config.js";
import { openSession } from "../transport/session.js";
import { startHeartbeat } from "../transport/presence.js";
import { grantOf } from "../config/config.js";
import { AgentDirectory } from "./agent-directory.js";
import type { KeyRegistry } from "../trust/key-registry.js";
import type { HostMetrics } from "../host/metrics.js";
import { buildApp } from "./app.js";
import { resolveTokens, type Tokens } from "./auth.js";
import { WatchHub } from "./watch-hub.js";
import type { GithubBridge } from "./github/bridge.js";

export interface GatewayOptions {
  config: AgoraConfig;
  nc: NatsConnection;
  hostMetrics?: HostMetrics;
  /** Override the configured tokens (tests). */
  tokens?: Tokens;
  /** Serve the GitHub bridge's webhook on this gateway. */
  bridge?: GithubBridge;
}

export class Gateway {
  readonly app: FastifyInstance;
  readonly hub: WatchHub;
  readonly tokens: Tokens;
  private readonly registry: KeyRegistry;
  url?: string;

  private constructor(
    app: FastifyInstance,
    hub: WatchHub,
    tokens: Tokens,
    registry: KeyRegistry,
    private readonly presence: { stop(): Promise<void> },
  ) {
    this.app = app;
    this.hub = hub;
    this.tokens = tokens;
    this.registry = registry;
  }

  /** Build everything; nothing listens until listen(). */
  static async create(options: GatewayOptions): Promise<Gateway> {
    const { config, nc } = options;
    const { infra, identity, registry, verifier } = await openSession(config, nc, {
      identity: config.gateway.identity,
      publish: true,
    });
    const hub = new WatchHub(config, infra, verifier, new AgentDirectory(config, infra, nc, registry));
    await hub.start();
    const tokens = options.tokens ?? resolveTokens(config);
    const app = await buildApp({
      config,
      nc,
      infra,
      hub,
      verifier,
      registry,
      tokens,
      identity,
      hostMetrics: options.hostMetrics,
      bridge: options.bridge,
    });
    // The operator's card: presence for the console's identity.
    const presence = await startHeartbeat(
      infra.cards,
      identity,
      {
        kind: "operator",
        description: "the operator console: watches, injects, kills and revives",
        writes: grantOf(config, identity.name)?.write ?? [],
      },
      config.limits.heartbeatMs,
    );
    return new Gateway(app, hub, tokens, registry, presence);
  }

  /** Listen on the configured address (loopback by default); port 0 picks a free one. */
  async listen(options: { host?: string; port?: number } = {}): Promise<string> {
    const address = await this.app.listen({ host: options.host ?? "127.0.0.1", port: options.port ?? 0 });
    this.url = address;
    return address;
  }

  async close(): Promise<void> {
    await this.app.close();
    await this.presence.stop();
    await this.hub.close();
    this.registry.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
