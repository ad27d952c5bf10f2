import { randomBytes } from "node:crypto";
import { ensureDatabase } from "../src/db/database.js";
import { chatTo, deliveriesOf, FAST_DELIVERY, insertRemoteAccount, sleep, waitUntil } from "./helpers/delivery.js";
import { pleromaChatMessage } from "./helpers/inbox.js";
import { type InboxSink, startInboxSink } from "./helpers/inbox-sink.js";
import { api, createAccount, dropDatabase, startTestParley, TEST_PG, type TestParley } from "./helpers/parley.js";
import { type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";
import { startTcpProxy, type TcpProxy } from "./helpers/tcp-proxy.js";

/**
 * PostgreSQL or Redis unreachable (a TCP proxy in front of the shared service is cut): the API and
 * the inbox answer 503 + Retry-After rather than 500, /readyz names the dependency, nothing partial
 * is written, and the service recovers by itself once the proxy is back.
 */

describe("PostgreSQL unreachable", () => {
  const name = `parley_test_pgdown_${randomBytes(4).toString("hex")}`;
  const realUrl = `${TEST_PG}/${name}`;
  let proxy: TcpProxy;
  let parley: TestParley;
  let remote: RemoteServer;

  beforeAll(async () => {
    // Created through the real port; Parley only ever sees the proxy.
    await ensureDatabase(realUrl);
    const target = new URL(TEST_PG);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const proxied = new URL(realUrl);
    proxied.host = `127.0.0.1:${proxy.port}`;
    [parley, remote] = await Promise.all([startTestParley({ queue: "redis", databaseUrl: proxied.href }), startRemoteServer()]);
  }, 60_000);
  afterAll(async () => {
    await proxy?.restore().catch(() => {});
    await parley?.close();
    await Promise.all([proxy?.close(), remote?.close()]);
    await dropDatabase(realUrl);
  });

  it("answers 503 + Retry-After, reports the database in /readyz, writes nothing, recovers", async () => {
    const alice = await createAccount(parley, "alice");
    const bob = await createAccount(parley, "bob");
    const client = api(parley.url, alice.token);
    const chat = await client.post(`/api/v1/pleroma/chats/by-account-id/${bob.account.id}`);
    expect(chat.status).toBe(200);
    const pleroma = remote.actor("pleroma", { capabilities: { acceptsChatMessages: true } });
    const bobUri = `${parley.url}/users/bob`;
    // Once up: the actor's key is known.
    expect((await signedPost(`${parley.url}/users/bob/inbox`, pleromaChatMessage(pleroma, bobUri), pleroma)).status).toBe(202);

    await proxy.cut();
    const listed = await client.get("/api/v1/pleroma/chats");
    expect(listed.status).toBe(503);
    expect(listed.body).toEqual({ error: "service_unavailable" });
    expect(Number(listed.headers.get("retry-after"))).toBeGreaterThan(0);
    const posted = await client.post(`/api/v1/pleroma/chats/${chat.body.id}/messages`, { content: "lost?" });
    expect(posted.status).toBe(503);
    expect(posted.headers.get("retry-after")).toBeTruthy();
    const ready = await client.get("/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body.down).toEqual(["database"]);
    expect(ready.body.database).not.toBe("ok");
    expect(ready.body.queue.status).toBe("ok");
    const inbox = await signedPost(
      `${parley.url}/users/bob/inbox`,
      pleromaChatMessage(pleroma, bobUri, { content: "while down" }),
      pleroma,
    );
    expect(inbox.status).toBe(503);
    expect(JSON.parse(inbox.body)).toEqual({ error: "service_unavailable" });
    expect(inbox.headers["retry-after"]).toBeTruthy();

    await proxy.restore();
    await waitUntil(async () => (await client.get("/readyz")).status === 200, 15_000, "ready again");
    const after = await client.get(`/api/v1/pleroma/chats/${chat.body.id}/messages`);
    expect(after.status).toBe(200);
    // The refused message left nothing behind.
    expect(after.body).toEqual([]);
    expect((await client.post(`/api/v1/pleroma/chats/${chat.body.id}/messages`, { content: "back" })).status).toBe(200);
    expect(
      (await signedPost(`${parley.url}/users/bob/inbox`, pleromaChatMessage(pleroma, bobUri, { content: "again" }), pleroma)).status,
    ).toBe(202);
  }, 60_000);
});

describe("Redis unreachable (Redis queue backend)", () => {
  let proxy: TcpProxy;
  let parley: TestParley;
  let sink: InboxSink;

  beforeAll(async () => {
    proxy = await startTcpProxy("127.0.0.1", 6379);
    [parley, sink] = await Promise.all([
      startTestParley({
        queue: "redis",
        env: { REDIS_URL: `redis://127.0.0.1:${proxy.port}` },
        deliveryTuning: { ...FAST_DELIVERY, reconcileEveryMs: 1_000 },
      }),
      startInboxSink(),
    ]);
  }, 60_000);
  afterAll(async () => {
    await proxy?.restore().catch(() => {});
    await parley?.close();
    await Promise.all([proxy?.close(), sink?.close()]);
  });

  it("/readyz names Redis; a message sent meanwhile is stored and delivered once Redis is back", async () => {
    const alice = await createAccount(parley, "alice");
    const bob = await insertRemoteAccount(parley, sink);
    const chat = await chatTo(parley, alice.token, bob.id);

    await proxy.cut();
    const ready = await chat.client.get("/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body.down).toEqual(["redis"]);
    expect(ready.body.database).toBe("ok");
    // The API still answers: nothing in it needs Redis (the queue wait is bounded).
    const started = Date.now();
    const sent = await chat.send("sent while Redis is down");
    expect(sent.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(5_000);
    const [row] = await deliveriesOf(parley, sent.body.id);
    expect(row).toMatchObject({ status: "pending", attempts: 0 });
    await sleep(500);
    expect(sink.received).toHaveLength(0);

    await proxy.restore();
    await chat.until(sent.body.id, "delivered", 30_000);
    await waitUntil(async () => (await chat.client.get("/readyz")).status === 200, 15_000, "ready again");
    await sleep(1_500);
    expect(sink.received.map((r) => r.activity.object.content)).toHaveLength(1);
  }, 60_000);
});
