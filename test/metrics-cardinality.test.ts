import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Issue 13 item 2: every label of every metric takes its values from a fixed set, so no request can
 * grow `/metrics`. Thousands of distinct odd paths (raw `/.well-known/…`, `/users/<random>`,
 * `/api/v1/<random>`, 8 KB long ones, odd methods, inbox POSTs to random actors) leave the
 * exposition within a few kilobytes of where it was, with a bounded number of series.
 */

let parley: TestParley;

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
});
afterAll(() => parley?.close());

async function scrape(): Promise<string> {
  const response = await fetch(`${parley.url}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

/**
 * Label sets of Parley's own families: a histogram's label set counted once (its `_count`), not
 * once per bucket.
 */
const seriesCount = (text: string) =>
  text.split("\n").filter((line) => /^parley_[a-z_]+(_count|_total)?(\{[^}]*\})? /.test(line) && !/_(bucket|sum)\{/.test(line)).length;

/** Label values of one label across the latency histogram. */
const labelValues = (text: string, label: string) =>
  new Set(
    [...text.matchAll(new RegExp(`^parley_http_request_duration_seconds_count\\{[^}]*\\b${label}="([^"]*)"`, "gm"))].map((m) => m[1]),
  );

/** A raw HTTP request (fetch refuses odd methods and some paths); resolves with the status. */
function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<number> {
  const url = new URL(parley.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { ...headers, ...(body ? { "content-length": String(Buffer.byteLength(body)) } : {}) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function inBatches<T>(items: T[], size: number, run: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

const random = (bytes = 6) => randomBytes(bytes).toString("hex");

it("300 requests with 8 KB /.well-known paths grow /metrics by less than 50 KB", async () => {
  await scrape();
  const before = await scrape();
  await inBatches(
    Array.from({ length: 300 }, () => `/.well-known/${random()}${"x".repeat(8 * 1024)}`),
    20,
    (path) => raw("GET", path),
  );
  const after = await scrape();
  expect(after.length - before.length).toBeLessThan(50 * 1024);
  expect(after).not.toContain("xxxxxxxx");
  expect(labelValues(after, "route")).toContain("unmatched");
});

it("3,000 distinct odd paths and methods leave the series and the size of /metrics bounded", async () => {
  await scrape();
  const before = await scrape();
  const methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PROPFIND", "MKCOL", "LOCK", "SEARCH", "REPORT", "PURGE"];
  const requests: [string, string, string?][] = [];
  for (let i = 0; i < 3_000; i++) {
    const id = random();
    const method = methods[i % methods.length];
    const paths = [
      `/.well-known/${id}`,
      `/.well-known/webfinger${"/x".repeat(i % 7)}${id}`,
      `/users/${id}`,
      `/users/${id}/followers/${id}`,
      `/api/v1/${id}`,
      `/api/v1/accounts/${id}/${id}`,
      `/api/pleroma/${id}`,
      `/media/${id}.png`,
      `/objects/${id}`,
      `/${id}?q=${id}`,
      `/%${id}`,
      `/${"y".repeat(2_000 + (i % 50))}${id}`,
    ];
    requests.push([method, paths[i % paths.length]]);
    // Inbox POSTs to random actors: each answer's reason goes into the inbox counter.
    if (i % 30 === 0) requests.push(["POST", `/users/${id}/inbox`, JSON.stringify({ type: `Odd${id}`, id: `http://x/${id}` })]);
  }
  const statuses = new Set<number>();
  await inBatches(requests, 25, async ([method, path, body]) => {
    statuses.add(await raw(method, path, body, body ? { "content-type": "application/activity+json" } : {}));
  });
  // Many distinct answers were given (404, 405, 401, 400…), none of them a 500.
  expect(statuses.size).toBeGreaterThan(2);
  expect([...statuses].some((status) => status >= 500)).toBe(false);

  const after = await scrape();
  // A new label set costs ~1.5 KB (a histogram's 14 lines): what grows is the few combinations of
  // a fixed method, pattern and status these requests reach for the first time, not one per path.
  expect(seriesCount(after) - seriesCount(before)).toBeLessThan(60);
  expect(after.length - before.length).toBeLessThan(100 * 1024);
  for (const id of [...requests.slice(0, 50).map(([, path]) => path.split("/")[2])]) {
    if (id && id.length >= 12) expect(after).not.toContain(id);
  }
  // Methods from a fixed set, others folded; routes are patterns.
  for (const method of labelValues(after, "method"))
    expect(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"]).toContain(method);
  for (const route of labelValues(after, "route")) expect(route).toMatch(/^(unmatched|\/[A-Za-z0-9_:./*-]*)$/);
  for (const route of labelValues(after, "route")) expect(route.length).toBeLessThan(120);
  const reasons = new Set([...after.matchAll(/^parley_inbox_requests_total\{[^}]*reason="([^"]*)"/gm)].map((m) => m[1]));
  for (const reason of reasons) expect(reason).toMatch(/^[A-Za-z_]{1,40}$/);
});

it("a second round of as many new paths adds nothing", async () => {
  const before = await scrape();
  await inBatches(
    Array.from({ length: 1_000 }, (_, i) => [
      ["GET", "POST", "PROPFIND"][i % 3],
      [`/.well-known/${random()}`, `/users/${random()}`, `/api/v1/${random()}`, `/${random()}`][i % 4],
    ]),
    25,
    ([method, path]) => raw(method, path),
  );
  const after = await scrape();
  // The same series, only their values moved (numbers may grow by a few digits).
  expect(seriesCount(after)).toBe(seriesCount(before));
  expect(Math.abs(after.length - before.length)).toBeLessThan(4 * 1024);
});
