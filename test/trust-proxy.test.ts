import { createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Issue 13 item 4: TRUST_PROXY decides whose X-Forwarded-* count. The tests connect from
 * 127.0.0.1: loopback is trusted by default, so X-Forwarded-For names the client the per-address
 * inbox cap (RATE_LIMIT_INBOX_IP) counts; with TRUST_PROXY=false, or a list without loopback, the
 * header is ignored and the cap keys on the socket address, whatever a client writes.
 */

const env = { RATE_LIMIT_INBOX_IP: "2/3600" };
let byDefault: TestParley;
let untrusting: TestParley;
let otherProxy: TestParley;

beforeAll(async () => {
  [byDefault, untrusting, otherProxy] = await Promise.all([
    startTestParley({ env }),
    startTestParley({ env: { ...env, TRUST_PROXY: "false" } }),
    startTestParley({ env: { ...env, TRUST_PROXY: "10.0.0.0/8, 192.0.2.1" } }),
  ]);
  await Promise.all([byDefault, untrusting, otherProxy].map((instance) => createAccount(instance, "bob")));
}, 60_000);
afterAll(async () => {
  await Promise.all([byDefault?.close(), untrusting?.close(), otherProxy?.close()]);
});

/** An unsigned inbox POST (refused 401 after the per-address cap counted it). */
const inboxPost = (instance: TestParley, forwardedFor?: string) =>
  fetch(`${instance.url}/inbox`, {
    method: "POST",
    headers: { "content-type": "application/activity+json", ...(forwardedFor ? { "x-forwarded-for": forwardedFor } : {}) },
    body: JSON.stringify({ type: "Like", id: "http://example.invalid/likes/1", actor: "http://example.invalid/users/x" }),
  });

it("default (loopback trusted): X-Forwarded-For names the client the per-address cap counts", async () => {
  expect((await inboxPost(byDefault, "203.0.113.1")).status).toBe(401);
  expect((await inboxPost(byDefault, "198.51.100.7, 203.0.113.1")).status).toBe(401);
  const third = await inboxPost(byDefault, "203.0.113.1");
  expect(third.status).toBe(429);
  expect(await third.json()).toEqual({ error: "rate_limited" });
  expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
  // Another client behind the same proxy has its own count.
  expect((await inboxPost(byDefault, "203.0.113.2")).status).toBe(401);
});

it.each([
  ["TRUST_PROXY=false", () => untrusting],
  ["a list without loopback", () => otherProxy],
])("%s: X-Forwarded-For is ignored, the cap keys on the socket address", async (_name, instance) => {
  expect((await inboxPost(instance(), "203.0.113.1")).status).toBe(401);
  expect((await inboxPost(instance(), "203.0.113.2")).status).toBe(401);
  expect((await inboxPost(instance(), "203.0.113.3")).status).toBe(429);
  expect((await inboxPost(instance())).status).toBe(429);
});

describe("X-Forwarded-Proto and X-Forwarded-Host count only from a trusted proxy", () => {
  const webfinger = (instance: TestParley, headers: Record<string, string>) =>
    fetch(`${instance.url}/.well-known/webfinger?resource=acct:bob@${new URL(instance.url).host}`, { headers });

  it("from a trusted proxy, a malformed value is refused 400 naming the header", async () => {
    for (const [name, value] of [
      ["x-forwarded-proto", "a b"],
      ["x-forwarded-proto", "ftp"],
      ["x-forwarded-host", "a b"],
      ["x-forwarded-host", "example.org:99999"],
      ["x-forwarded-for", "not-an-address"],
    ]) {
      const answer = await webfinger(byDefault, { [name]: value });
      expect([name, value, answer.status, await answer.json()]).toEqual([
        name,
        value,
        400,
        expect.objectContaining({ error: "invalid_request", field: name }),
      ]);
    }
    expect((await webfinger(byDefault, { "x-forwarded-proto": "https", "x-forwarded-host": "chat.example.org" })).status).toBe(200);
  });

  it("from anyone else, they are ignored", async () => {
    for (const instance of [untrusting, otherProxy]) {
      const answer = await webfinger(instance, {
        "x-forwarded-proto": "a b",
        "x-forwarded-host": "a b",
        "x-forwarded-for": "not-an-address",
      });
      expect(answer.status).toBe(200);
    }
  });
});
