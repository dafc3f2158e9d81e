// gateway/github: the GitHub-issue bridge.
export { GithubBridge, DECISION_ACTS, type BridgeOptions, type BridgeCounters } from "./bridge.js";
export { GitHubClient, GitHubApiError, retryDelay } from "./github-client.js";
export { githubWebhookRoutes } from "./routes.js";
export { mapWebhook, signWebhook, verifyWebhookSignature, BRIDGE_MARKER } from "./webhook.js";
