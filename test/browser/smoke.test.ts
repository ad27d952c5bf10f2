import type { Browser, Page } from "puppeteer-core";
import { QUEUE_NAMES } from "../../src/queues/queues.js";
import { launchBrowser, type StubbedRequest, saveScreenshot, watchPage } from "../helpers/browser.js";
import { startTestParley, type TestParley } from "../helpers/parley.js";

/**
 * The pages a person opens in a browser, in a real (headless) Chromium: the home page, the API
 * docs (Swagger UI) and the queue dashboard (bull-board) render what they are for, with no
 * console error, no uncaught exception, no failed request and no request outside the instance.
 * Each page leaves a full-page screenshot in test-artifacts/browser/ (CI keeps it).
 */

let parley: TestParley;
let browser: Browser;
let origin: string;

beforeAll(async () => {
  // Both settle before a failure is thrown, so afterAll closes whichever did start.
  const [started, launched] = await Promise.allSettled([startTestParley({ queue: "postgres" }), launchBrowser()]);
  if (started.status === "fulfilled") parley = started.value;
  if (launched.status === "fulfilled") browser = launched.value;
  if (started.status === "rejected") throw started.reason;
  if (launched.status === "rejected") throw launched.reason;
  origin = new URL(parley.url).origin;
});
afterAll(async () => {
  await browser?.close();
  await parley?.close();
});

/**
 * A page in a fresh browser context, closed whatever the test's outcome: its own cookies, cache
 * and remembered Basic credentials, so no test sees what another signed in with. The test saves
 * its screenshot when the page shows what it checked; a failing one leaves `<name>-failed.png`.
 */
async function withPage(name: string, stubbed: StubbedRequest[], use: (page: Page, problems: string[]) => Promise<void>) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const problems = await watchPage(page, origin, stubbed);
  try {
    await use(page, problems);
  } catch (error) {
    await saveScreenshot(page, `${name}-failed`).catch(() => {});
    throw error;
  } finally {
    await context.close();
  }
}

const textOf = (page: Page, selector: string) => page.$eval(selector, (element) => element.textContent?.trim());

describe("in a browser", () => {
  it("the home page names the instance, links the API docs, the dashboard and health, and its docs link opens Swagger UI", async () => {
    await withPage("home", [], async (page, problems) => {
      const response = await page.goto(`${parley.url}/`, { waitUntil: "load" });
      expect(response?.status()).toBe(200);
      const host = new URL(parley.url).host;
      expect(await page.title()).toBe(`${host} · Parley`);
      expect(await textOf(page, "h1")).toBe(host);
      expect(await textOf(page, "p.sub")).toMatch(/^Parley \S+: one-to-one chats over ActivityPub/);

      const links = await page.$$eval("dl a", (anchors) => anchors.map((a) => ({ text: a.textContent, href: a.getAttribute("href") })));
      expect(links).toEqual(
        expect.arrayContaining([
          { text: "API documentation", href: "/api/docs" },
          { text: "Queue dashboard", href: "/admin/queues" },
          { text: "Health", href: "/healthz" },
          { text: "Readiness", href: "/readyz" },
        ]),
      );
      // The page's CSP admits its inline style by hash: a stale hash would leave it unstyled.
      expect(await page.evaluate(() => getComputedStyle(document.body).maxWidth)).toBe("640px");
      await saveScreenshot(page, "home");

      const [docs] = await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click('a[href="/api/docs"]')]);
      expect(docs?.status()).toBe(200);
      expect(new URL(page.url()).pathname).toBe("/api/docs/");
      await page.waitForSelector(".swagger-ui .opblock");
      expect(problems).toEqual([]);
    });
  });

  it("/api/docs: Swagger UI renders every operation of the OpenAPI document, the chat endpoints among them", async () => {
    const document = (await (await fetch(`${parley.url}/api/openapi`)).json()) as { paths: Record<string, object> };
    const operations = Object.values(document.paths).reduce((count, methods) => count + Object.keys(methods).length, 0);
    expect(operations).toBeGreaterThan(20);

    await withPage("api-docs", [], async (page, problems) => {
      await page.goto(`${parley.url}/api/docs`, { waitUntil: "load" });
      await page.waitForSelector('.opblock-summary-path[data-path="/api/v1/pleroma/chats"]');
      await page.waitForNetworkIdle();
      expect(await textOf(page, ".info .title")).toMatch(/^Parley/);
      expect(await page.$$eval(".opblock", (blocks) => blocks.length)).toBe(operations);
      const tags = await page.$$eval(".opblock-tag", (headings) => headings.map((h) => h.getAttribute("data-tag")));
      expect(tags).toEqual(expect.arrayContaining(["chats", "admin"]));
      const chatPaths = await page.$$eval('.opblock-tag-section:has([data-tag="chats"]) .opblock-summary-path', (paths) =>
        paths.map((p) => p.getAttribute("data-path")),
      );
      expect(chatPaths).toEqual(expect.arrayContaining(["/api/v1/pleroma/chats", "/api/v1/pleroma/chats/{id}/messages"]));
      await saveScreenshot(page, "api-docs");
      expect(problems).toEqual([]);
    });
  });

  it("/admin/queues: after the Basic challenge (ADMIN_TOKEN as password), bull-board lists every queue by name", async () => {
    const queueNames: string[] = Object.values(QUEUE_NAMES).sort();
    await withPage("queue-dashboard", [], async (page, problems) => {
      // Answers the 401 challenge as a person at the login dialog would.
      await page.authenticate({ username: "ops", password: parley.adminToken });
      const response = await page.goto(`${parley.url}/admin/queues`, { waitUntil: "load" });
      expect(response?.status()).toBe(200);
      expect(await page.title()).toBe("Parley queues");
      // One card per queue on the overview, each headed by its name, once the board's API answered.
      await page.waitForFunction(
        (names: string[]) => names.every((name) => [...document.querySelectorAll("main a")].some((a) => a.textContent?.includes(name))),
        {},
        queueNames,
      );
      await page.waitForNetworkIdle();
      const sidebar = await page.$$eval("#bull-board-sidebar a", (anchors) => anchors.map((a) => a.textContent?.trim() ?? ""));
      expect(sidebar.filter((text) => queueNames.includes(text)).sort()).toEqual(queueNames);
      await saveScreenshot(page, "queue-dashboard");
      expect(problems).toEqual([]);
    });
  });

  it("/admin/queues with a wrong token: the challenge is answered, refused again, and the browser shows no board", async () => {
    await withPage("queue-dashboard-wrong-token", [], async (page) => {
      // Headless Chromium has no login dialog: puppeteer answers the first challenge with these
      // credentials and cancels the second, which leaves the 401 answer on screen.
      await page.authenticate({ username: "ops", password: `not-${parley.adminToken}` });
      const response = await page.goto(`${parley.url}/admin/queues`, { waitUntil: "load" });
      expect(response?.status()).toBe(401);
      expect(response?.headers()["www-authenticate"]).toBe('Basic realm="parley"');
      expect(await page.evaluate(() => document.body.textContent)).toContain('"error":"unauthorized"');
      expect(await page.$("#bull-board-sidebar")).toBeNull();
    });
  });
});
