// The operator console in a real browser: Debian's chromium driven by playwright-core.
import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import type { HostEvent } from "../../protocol/events.js";
import { startAgora, TOKENS, until } from "../helpers/agora.js";
import { agentWasm, ROOT } from "../helpers/paths.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const OUT = join(ROOT, "test-output");

describe("console", () => {
  it("console - inject a request, watch it and the reply arrive live, kill the agent, see no further deliveries", async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`,
      );
    await using a = await startAgora({
      channels: ["build-coord"],
      agents: { responder: { component: agentWasm("responder"), read: ["build-coord"], write: ["build-coord"] } },
      external: { operator: { write: ["build-coord"] } },
    });
    const host = await a.startHost();
    const events: HostEvent[] = [];
    void (async () => {
      for await (const e of host.events.subscribe()) events.push(e);
    })();
    const g = await a.startGateway();
    const url = await g.listen({ port: 0 });

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${url}/`);
      await page.fill("#token", TOKENS.operator);
      await page.click("#login");
      await page.waitForSelector('#agents li[data-agent="responder"] .status[data-status="running"]');
      expect(await page.locator("#role").textContent()).toBe("signed in as operator");
      // Presence: the responder's signed card, and the operator's own.
      await page.waitForSelector('#presence li[data-card="responder"] .status[data-presence="idle"]');
      await page.waitForSelector('#presence li[data-card="operator"]');
      // What each agent runs (GET /api/rollouts): the responder, from its config.
      expect(await page.locator('#deploys li[data-agent="responder"]').textContent({ timeout: 10_000 })).toContain(
        "runs its config's component",
      );

      // Inject through the form; the request and the agent's reply appear live.
      await page.fill("#inject-body", '{"task":"from the browser"}');
      await page.click("#inject-send");
      await page.waitForSelector('#messages tr[data-act="request"][data-sender="operator"]');
      await page.waitForSelector('#messages tr[data-act="agree"][data-sender="responder"] td[data-sig="ok"]');
      const reLink = page.locator('#messages tr[data-act="agree"] a').first();
      const requestId = (await page.locator('#messages tr[data-act="request"]').first().getAttribute("id"))!.slice(4);
      expect(await reLink.getAttribute("href")).toBe(`#msg-${requestId}`);
      // Trace the request: the responder handled it.
      await page.fill("#trace-id", requestId);
      await page.click('#trace button[type="submit"]');
      await page.waitForSelector('#trace-out li[data-trace="responder"] .status[data-delivery="handled"]');

      // Press kill: the agent is marked killed and gets nothing more.
      await page.click('button[data-kill="responder"]');
      await page.waitForSelector('#agents li[data-agent="responder"] .status[data-status="killed"]');
      const deliveredBefore = events.filter((e) => e.type === "delivered").length;
      await page.fill("#inject-body", '{"task":"after the kill"}');
      await page.click("#inject-send");
      await page.waitForSelector('#messages tr[data-act="request"] >> nth=1');
      await new Promise((r) => setTimeout(r, 1500));
      expect(events.filter((e) => e.type === "delivered").length).toBe(deliveredBefore);
      expect(await page.locator('#messages tr[data-act="agree"]').count()).toBe(1);
      expect(host.killed("responder")).toBe(true);
      await until(
        () =>
          page
            .locator('#events li[data-event="killed"]')
            .count()
            .then((n) => n === 1),
        5000,
        "killed event in the console",
      );

      mkdirSync(OUT, { recursive: true });
      await page.screenshot({ path: join(OUT, "console.png"), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
