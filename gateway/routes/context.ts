// GatewayContext: what the route plugins share — config, NATS, the hub, trust,
// the gateway's identity, and the role guards.
import type { NatsConnection } from "@nats-io/transport-node";
import type { preValidationHookHandler } from "fastify";
import type { AgoraConfig } from "../../config/config.js";
import type { HostMetrics } from "../../host/metrics.js";
import type { Infrastructure } from "../../transport/infrastructure.js";
import type { Identity } from "../../trust/key-store.js";
import type { Verifier } from "../../trust/verifier.js";
import type { KeyRegistry } from "../../trust/key-registry.js";
import type { WatchHub } from "../watch-hub.js";
import type { FactsQueries } from "../facts-queries.js";

export interface GatewayContext {
  config: AgoraConfig;
  nc: NatsConnection;
  infra: Infrastructure;
  hub: WatchHub;
  verifier: Verifier;
  /** Public keys: pinned local ones, first-seen from KV. */
  registry: KeyRegistry;
  /** The gateway's identity: signs injects and control envelopes. */
  identity: Identity;
  /** The in-process host's metrics, when there is one. */
  hostMetrics?: HostMetrics;
  /** Facts queries, answered off the event loop. */
  facts: FactsQueries;
  /** Route options that admit a viewer (or operator) token. */
  viewer: { preValidation: preValidationHookHandler };
  /** Route options that admit the operator token only. */
  operator: { preValidation: preValidationHookHandler };
}
