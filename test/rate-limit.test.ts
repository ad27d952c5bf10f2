import { randomBytes } from "node:crypto";
import { ConfigError, loadConfig } from "../src/config/config.js";
import { api, createAccount, deleteRedisPrefix, type QueueKind, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * RATE_LIMIT_API (per bearer token) and RATE_LIMIT_INBOX (per keyId host, counted before the
 * signature check): 429 + Retry-After past the limit, Mastodon's X-RateLimit-* headers, and one
 * count shared by every process on the same store (Redis prefix, or the database's fedify_kv).
 */

// A long window: a test straddling a window boundary would see its count reset.
const env = { RATE_LIMIT_API: "3/3600", RATE_LIMIT_INBOX: "2/3600" };

/** An inbox POST whose signature names a key on `host` (never valid: the count comes first). */
const inboxPost = (base: string, host: string) =>
  fetch(`${base}/inbox`, {
    method: "POST",
    headers: {
      "content-type": "application/activity+json",
      date: new Date().toUTCString(),
      signature: `keyId="http://${host}/users/x#main-key",algorithm="rsa-sha256",headers="(request-target) host date",signature="AAAA"`,
    },
    body: JSON.stringify({ type: "Create", id: `http://${host}/activities/${randomBytes(4).toString("hex")}`, actor: `http://${host}/users/x` }),
  });

describe.each<QueueKind>(["postgres", "redis"])("rate limits shared across two instances (%s)", (queue) => {
  const queuePrefix = `parley-test-rl-${randomBytes(4).toString("hex")}`;
  let a: TestParley;
  let b: TestParley;

  beforeAll(async () => {
    a = await startTestParley({ queue, queuePrefix, env });
    b = await startTestParley({ queue, queuePrefix, env, databaseUrl: a.databaseUrl, adminToken: a.adminToken });
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await a?.close();
    // Given a prefix, startTestParley leaves it (and, given a database, the database) in place.
    if (queue === "redis") await deleteRedisPrefix(queuePrefix);
  });

  it("API: 429 + Retry-After past the limit, per token, counted across instances", async () => {
    const alice = await createAccount(a, "alice");
    const bob = await createAccount(a, "bob");
    const first = await api(a.url, alice.token).get("/api/v1/pleroma/chats");
    expect(first.status).toBe(200);
    expect(first.headers.get("x-ratelimit-limit")).toBe("3");
    expect(first.headers.get("x-ratelimit-remaining")).toBe("2");
    expect(Date.parse(first.headers.get("x-ratelimit-reset")!)).toBeGreaterThan(Date.now());
    expect((await api(b.url, alice.token).get("/api/v1/pleroma/chats")).headers.get("x-ratelimit-remaining")).toBe("1");
    expect((await api(a.url, alice.token).get("/api/v1/pleroma/chats")).status).toBe(200);
    const refused = await api(b.url, alice.token).get("/api/v1/pleroma/chats");
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({ error: "rate_limited" });
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
    // Another token has its own count.
    expect((await api(b.url, bob.token).get("/api/v1/pleroma/chats")).status).toBe(200);
  });

  it("inbox: per keyId host, before the signature check, counted across instances", async () => {
    const spam = await inboxPost(a.url, "127.0.0.1:1");
    expect(spam.status).not.toBe(429);
    expect(spam.headers.get("x-ratelimit-limit")).toBe("2");
    expect((await inboxPost(b.url, "127.0.0.1:1")).status).not.toBe(429);
    const refused = await inboxPost(a.url, "127.0.0.1:1");
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await refused.json()).toEqual({ error: "rate_limited" });
    // Another host is not affected.
    expect((await inboxPost(b.url, "127.0.0.1:2")).status).not.toBe(429);
  });
});

it("reads RATE_LIMIT_API / RATE_LIMIT_INBOX as <count>/<seconds> or off", () => {
  expect(loadConfig({ RATE_LIMIT_API: "10/60", RATE_LIMIT_INBOX: "off" })).toMatchObject({
    rateLimitApi: { max: 10, windowMs: 60_000 },
    rateLimitInbox: null,
  });
  expect(() => loadConfig({ RATE_LIMIT_API: "lots" })).toThrow(ConfigError);
  expect(() => loadConfig({ RATE_LIMIT_INBOX: "10/0" })).toThrow(/RATE_LIMIT_INBOX="10\/0": must be <count>\/<seconds>/);
});
