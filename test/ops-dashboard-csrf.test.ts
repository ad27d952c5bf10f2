import { request as httpRequest } from "node:http";
import { startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Issue 13 item 8: `/admin/queues` refuses writes another site's page could make with the admin's
 * remembered Basic credentials (a form or text/plain POST, a foreign Origin), while the board's
 * own XHRs (Basic + our Origin) and scripts (Bearer + JSON) keep working, and reads are unchanged.
 */

let parley: TestParley;

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
});
afterAll(() => parley?.close());

const basic = () => `Basic ${Buffer.from(`admin:${parley.adminToken}`).toString("base64")}`;
const bearer = () => `Bearer ${parley.adminToken}`;
const ownOrigin = () => new URL(parley.url).origin;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** A raw request: fetch would not send every header a browser does (Origin among them). */
function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  const url = new URL(parley.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { ...headers, ...(body !== undefined ? { "content-length": String(Buffer.byteLength(body)) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON: kept as text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const queue = () => parley.parley.deps.queues.all().find((q) => q.name === "link-cards")!;
const addPath = "/admin/queues/api/queues/link-cards/add";
const pausePath = "/admin/queues/api/queues/link-cards/pause";
const resumePath = "/admin/queues/api/queues/link-cards/resume";
const jobCount = async () => Object.values(await queue().getJobCounts()).reduce((total, n) => total + n, 0);

describe("cross-site writes are refused with 403 and change nothing", () => {
  it.each<[string, () => Record<string, string>, string, string]>([
    [
      "a form POST from another site (Basic replayed, foreign Origin)",
      () => ({ authorization: basic(), origin: "https://evil.example", "content-type": "application/x-www-form-urlencoded" }),
      "name=x&data=%7B%7D",
      "foreign_origin",
    ],
    [
      "a text/plain POST from another site",
      () => ({ authorization: basic(), origin: "https://evil.example", "content-type": "text/plain" }),
      '{"name":"x","data":{}}',
      "foreign_origin",
    ],
    [
      "a form POST with Origin null (sandboxed frame)",
      () => ({ authorization: basic(), origin: "null", "content-type": "application/x-www-form-urlencoded" }),
      "name=x",
      "foreign_origin",
    ],
    [
      "a text/plain POST with Basic and no Origin",
      () => ({ authorization: basic(), "content-type": "text/plain" }),
      '{"name":"x","data":{}}',
      "cross_site_write",
    ],
    [
      "a JSON POST with Basic and no Origin",
      () => ({ authorization: basic(), "content-type": "application/json" }),
      '{"name":"x","data":{}}',
      "cross_site_write",
    ],
    [
      "a text/plain POST with Bearer and no Origin",
      () => ({ authorization: bearer(), "content-type": "text/plain" }),
      '{"name":"x","data":{}}',
      "cross_site_write",
    ],
    [
      "a JSON POST with Bearer from a foreign Origin",
      () => ({ authorization: bearer(), origin: "https://evil.example", "content-type": "application/json" }),
      '{"name":"x","data":{}}',
      "foreign_origin",
    ],
    [
      "an Origin that only looks like ours",
      () => ({ authorization: basic(), origin: `${ownOrigin()}.evil.example`, "content-type": "application/json" }),
      '{"name":"x","data":{}}',
      "foreign_origin",
    ],
  ])("%s", async (_name, headers, body, reason) => {
    const before = await jobCount();
    const answer = await send("POST", addPath, headers(), body);
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ error: "forbidden", reason, message: expect.any(String) });
    expect(await jobCount()).toBe(before);
  });

  it("a PUT (pause) with Basic from a foreign Origin leaves the queue running", async () => {
    const answer = await send("PUT", pausePath, { authorization: basic(), origin: "https://evil.example" });
    expect(answer.status).toBe(403);
    expect(await queue().isPaused()).toBe(false);
  });

  it("without the token, a write is 401 (the token is checked first)", async () => {
    const answer = await send("PUT", pausePath, { origin: ownOrigin(), "content-type": "application/json" }, "{}");
    expect(answer.status).toBe(401);
    expect(answer.headers["www-authenticate"]).toBe('Basic realm="parley"');
  });
});

describe("genuine writes and reads still work", () => {
  it("a script: Bearer + JSON pauses and resumes a queue", async () => {
    const paused = await send("PUT", pausePath, { authorization: bearer(), "content-type": "application/json" }, "{}");
    expect(paused.status).toBeLessThan(300);
    expect(await queue().isPaused()).toBe(true);
    const resumed = await send("PUT", resumePath, { authorization: bearer(), "content-type": "application/json; charset=utf-8" }, "{}");
    expect(resumed.status).toBeLessThan(300);
    expect(await queue().isPaused()).toBe(false);
  });

  it("the board's own XHR: Basic + our Origin, no body (as its axios PUT sends it)", async () => {
    const paused = await send("PUT", pausePath, { authorization: basic(), origin: ownOrigin() });
    expect(paused.status).toBeLessThan(300);
    expect(await queue().isPaused()).toBe(true);
    const resumed = await send("PUT", resumePath, { authorization: basic(), origin: ownOrigin() });
    expect(resumed.status).toBeLessThan(300);
    expect(await queue().isPaused()).toBe(false);
  });

  it("a JSON POST with Bearer adds a job; cleaning with Basic + our Origin removes it", async () => {
    const before = await jobCount();
    const added = await send(
      "POST",
      addPath,
      { authorization: bearer(), "content-type": "application/json" },
      JSON.stringify({ name: "csrf-test", data: { messageId: "none" }, options: { delay: 3_600_000 } }),
    );
    expect(added.status).toBe(200);
    expect(await jobCount()).toBe(before + 1);
    const jobId = added.body.job.id as string;
    expect(jobId).toEqual(expect.any(String));
    const cleaned = await send("PUT", `/admin/queues/api/queues/link-cards/${encodeURIComponent(jobId)}/clean`, {
      authorization: basic(),
      origin: ownOrigin(),
    });
    expect(cleaned.status).toBeLessThan(300);
    expect(await jobCount()).toBe(before);
  });

  it("reads need no Origin: GET with Basic or Bearer, and the board cannot be framed", async () => {
    for (const authorization of [basic(), bearer()]) {
      const page = await send("GET", "/admin/queues", { authorization });
      expect(page.status).toBe(200);
      expect(page.headers["x-frame-options"]).toBe("DENY");
      expect(page.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
      const api = await send("GET", "/admin/queues/api/queues", { authorization, origin: "https://evil.example" });
      expect(api.status).toBe(200);
      expect(api.body.queues.map((q: { name: string }) => q.name)).toContain("link-cards");
    }
  });
});
