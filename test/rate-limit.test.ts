import { randomBytes } from "node:crypto";
import { pleromaChatMessage, stored } from "./helpers/inbox.js";
import { api, createAccount, deleteRedisPrefix, type QueueKind, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";

/**
 * RATE_LIMIT_API (per bearer token) and RATE_LIMIT_INBOX (per host of the verified signer,
 * counted only once the signature verified): 429 + Retry-After past the limit, Mastodon's
 * X-RateLimit-* headers, and one count shared by every process on the same store (Redis prefix,
 * or the database's fedify_kv).
 */

// A long window: a test straddling a window boundary would see its count reset.
const env = { RATE_LIMIT_API: "3/3600", RATE_LIMIT_INBOX: "2/3600" };

/** An inbox POST whose signature names `actor`'s key but is not its signature. */
const forgedPost = (base: string, actor: RemoteActor, to: string) =>
  fetch(`${base}/inbox`, {
    method: "POST",
    headers: {
      "content-type": "application/activity+json",
      date: new Date().toUTCString(),
      signature: `keyId="${actor.keyId}",algorithm="rsa-sha256",headers="(request-target) host date",signature="AAAA"`,
    },
    body: JSON.stringify(pleromaChatMessage(actor, to)),
  });

describe.each<QueueKind>(["postgres", "redis"])("rate limits shared across two instances (%s)", (queue) => {
  const queuePrefix = `parley-test-rl-${randomBytes(4).toString("hex")}`;
  let a: TestParley;
  let b: TestParley;
  let peer: RemoteServer;
  let other: RemoteServer;

  beforeAll(async () => {
    [peer, other] = await Promise.all([startRemoteServer(), startRemoteServer()]);
    a = await startTestParley({ queue, queuePrefix, env });
    b = await startTestParley({ queue, queuePrefix, env, databaseUrl: a.databaseUrl, adminToken: a.adminToken });
  }, 60_000);
  afterAll(async () => {
    await Promise.all([peer?.close(), other?.close()]);
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

  it("inbox: per verified host, only for verified requests, counted across instances", async () => {
    await createAccount(a, "carol");
    const carol = `${a.url}/users/carol`;
    // b shares a's database under its own public URL.
    const carolAtB = `${b.url}/users/carol`;
    const sender = peer.actor("sender");
    // Forged requests naming the peer's key spend nothing of its budget.
    for (let i = 0; i < 3; i++) expect((await forgedPost(a.url, sender, carol)).status).toBe(401);
    const first = await signedPost(`${a.url}/inbox`, pleromaChatMessage(sender, carol), sender);
    expect(first.status).toBe(202);
    expect(first.headers["x-ratelimit-limit"]).toBe("2");
    expect(first.headers["x-ratelimit-remaining"]).toBe("1");
    expect((await signedPost(`${b.url}/inbox`, pleromaChatMessage(sender, carolAtB), sender)).status).toBe(202);
    // The refusal stores no activity (the two accepted ones may still be turning into messages).
    const before = (await stored(a)).inbox;
    const refused = await signedPost(`${a.url}/inbox`, pleromaChatMessage(sender, carol), sender);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
    expect(JSON.parse(refused.body)).toEqual({ error: "rate_limited" });
    expect((await stored(a)).inbox).toBe(before);
    // From now on the host is refused before verification, on either instance (the count is read, not raised).
    const early = await forgedPost(b.url, sender, carolAtB);
    expect(early.status).toBe(429);
    expect(Number(early.headers.get("retry-after"))).toBeGreaterThan(0);
    // Another host is not affected.
    const stranger = other.actor("stranger");
    expect((await signedPost(`${b.url}/inbox`, pleromaChatMessage(stranger, carolAtB), stranger)).status).toBe(202);
  });
});
