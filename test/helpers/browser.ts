import { mkdir } from "node:fs/promises";
import path from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";

/** Debian's package; elsewhere point CHROMIUM_PATH at any Chromium or Chrome binary. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** The CI artefact folder (in .gitignore). */
export const SCREENSHOT_DIR = path.resolve("test-artifacts/browser");

export function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // CI runs as root, where Chromium's sandbox refuses to start; containers give /dev/shm 64 MB.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

/** An outside request a page is known to make, answered here with an empty body of this type. */
export interface StubbedRequest {
  url: RegExp;
  contentType: string;
}

/**
 * Watches a page from before it opens; returns what went wrong, as readable lines: console
 * errors, uncaught exceptions, failed requests, responses >= 400 from our own origin, and any
 * request to another origin. Parley's pages are meant to be self-contained and CI may have no
 * internet, so outside requests never leave the machine: a `stubbed` one gets an empty answer,
 * any other is aborted and reported.
 */
export async function watchPage(page: Page, origin: string, stubbed: StubbedRequest[] = []): Promise<string[]> {
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()} (${message.location().url ?? "?"})`);
  });
  page.on("pageerror", (error) => problems.push(`uncaught: ${error instanceof Error ? error.message : String(error)}`));
  page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`));
  page.on("response", (response) => {
    if (response.status() >= 400 && new URL(response.url()).origin === origin) {
      problems.push(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`);
    }
  });
  await page.setRequestInterception(true);
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (!/^https?:$/.test(url.protocol) || url.origin === origin) return void request.continue();
    const stub = stubbed.find((s) => s.url.test(request.url()));
    if (stub) return void request.respond({ status: 200, contentType: stub.contentType, body: "" });
    problems.push(`outside request: ${request.method()} ${request.url()}`);
    return void request.abort("blockedbyclient");
  });
  return problems;
}

export async function saveScreenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`) as `${string}.png`, fullPage: true });
}
