// GitHubClient: the few REST calls the bridge makes, through @octokit/rest, with
// retries on 429/5xx that honour Retry-After; other 4xx fail at once.
import { Octokit } from "@octokit/rest";
import { AgoraError } from "../../protocol/errors.js";
import { backoffMs, sleep } from "../../transport/backoff.js";

export interface RetryOptions {
  /** Attempts in all. @default 5 */
  attempts?: number;
  /** First backoff in ms, doubled each time. @default 500 */
  baseMs?: number;
  /** Longest single wait in ms. @default 30000 */
  maxMs?: number;
}

export class GitHubApiError extends AgoraError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super("AGORA_ERR_GITHUB_API", message);
  }
}

/** How long to wait before retrying a failed call, or undefined if it must not be retried. */
export function retryDelay(
  status: number,
  headers: Record<string, string | number | undefined>,
  attempt: number,
  o: Required<RetryOptions>,
): number | undefined {
  if (status !== 429 && status < 500) return undefined;
  const after = Number(headers["retry-after"]);
  if (Number.isFinite(after) && after >= 0) return Math.min(after * 1000, o.maxMs);
  const reset = Number(headers["x-ratelimit-reset"]);
  if (status === 429 && Number.isFinite(reset) && reset > 0)
    return Math.min(Math.max(0, reset * 1000 - Date.now()), o.maxMs);
  return backoffMs(attempt, o.baseMs, o.maxMs);
}

export class GitHubClient {
  private readonly octokit: Octokit;
  private readonly retry: Required<RetryOptions>;

  constructor(options: { baseUrl: string; token: string; retry?: RetryOptions }) {
    // No request log: the token must never reach a log line.
    this.octokit = new Octokit({
      baseUrl: options.baseUrl,
      auth: options.token,
      log: { debug() {}, info() {}, warn() {}, error() {} },
    });
    this.retry = { attempts: 5, baseMs: 500, maxMs: 30_000, ...options.retry };
  }

  private async call<T>(what: string, fn: () => Promise<{ data: T }>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return (await fn()).data;
      } catch (err) {
        const e = err as { status?: number; response?: { headers?: Record<string, string> } };
        // Octokit reports a network failure (refused, reset, DNS) as status 500 without a response: that is no answer.
        const status = typeof e.status === "number" && e.response ? e.status : 0;
        const wait =
          status === 0
            ? backoffMs(attempt, this.retry.baseMs, this.retry.maxMs)
            : retryDelay(status, e.response?.headers ?? {}, attempt, this.retry);
        if (wait === undefined || attempt + 1 >= this.retry.attempts) {
          throw new GitHubApiError(
            status,
            `${what}: GitHub answered ${status || "no response"}${wait === undefined ? " (not retried)" : ` after ${attempt + 1} attempts`}`,
          );
        }
        await sleep(wait);
      }
    }
  }

  /** The login of the token's user (the bridge's author name on GitHub). */
  async login(): Promise<string> {
    return (await this.call("GET /user", () => this.octokit.rest.users.getAuthenticated())).login;
  }

  async comment(repo: string, issue: number, body: string): Promise<{ id: number; html_url?: string }> {
    const [owner, name] = repo.split("/") as [string, string];
    return this.call(`comment on ${repo}#${issue}`, () =>
      this.octokit.rest.issues.createComment({ owner, repo: name, issue_number: issue, body }),
    );
  }

  async label(repo: string, issue: number, label: string): Promise<void> {
    const [owner, name] = repo.split("/") as [string, string];
    await this.call(`label ${repo}#${issue}`, () =>
      this.octokit.rest.issues.addLabels({ owner, repo: name, issue_number: issue, labels: [label] }),
    );
  }
}
