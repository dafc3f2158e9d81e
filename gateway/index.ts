// gateway: the human edge — operator console, REST, live watch, inject, kill switch.
export { buildApp, type GatewayAppOptions } from "./app.js";
export { Gateway, type GatewayOptions } from "./gateway.js";
export { WatchHub } from "./watch-hub.js";
export { resolveTokens, roleOf, tokenEquals, type Role, type Tokens } from "./auth.js";
export type { WatchFrame, AgentView, AgentStatus } from "./frames.js";
