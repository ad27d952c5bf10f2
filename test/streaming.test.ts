import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { StreamingTuning } from "../src/streaming/streaming.js";
import { sleep, waitUntil } from "./helpers/delivery.js";
import { api, createAccount, deleteRedisPrefix, startTestParley, type TestParley } from "./helpers/parley.js";
import { spawnWorkerProcess, stopProcess } from "./helpers/processes.js";
import { type Frame, isChatUpdate, openStream, type StreamClient, streamingUrl, subscribe } from "./helpers/streaming.js";

/**
 * The streaming API end to end: alice on instance A writes to bob on instance B, whose inbound
 * worker runs in another process than the web process holding bob's sockets, so every event
 * crosses processes through PostgreSQL LISTEN/NOTIFY.
 */

type Account = Awaited<ReturnType<typeof createAccount>>;

const chatOf = (frame: Frame) => JSON.parse(frame.payload);
const withContent = (stream: string, text: string) => (frame: Frame) =>
  isChatUpdate(stream)(frame) && (chatOf(frame).last_message?.content ?? "").includes(text);

/** A worker process on B's database and queues (the production entry plus the test's queue prefix). */

describe("streaming across instances and processes", () => {
  const queuePrefix = `parley-test-stream-${randomBytes(4).toString("hex")}`;
  const logs: string[] = [];
  let a: TestParley;
  let b: TestParley;
  let worker: ChildProcess | undefined;
  let dataDir: string;
  let alice: Account;
  let bob: Account;
  let aliceChatId: string;
  let bobChatId: string;
  const clients: StreamClient[] = [];

  const asAlice = () => api(a.url, alice.token);
  const asBob = () => api(b.url, bob.token);
  const bearer = (account: Account) => ({ headers: { authorization: `Bearer ${account.token}` } });
  async function open(base: string, query: Record<string, string>, options: Parameters<typeof openStream>[1] = {}) {
    const client = await openStream(streamingUrl(base, query), options);
    clients.push(client);
    return client;
  }
  async function aliceSends(content: string) {
    const sent = await asAlice().post(`/api/v1/pleroma/chats/${aliceChatId}/messages`, { content });
    expect(sent.status).toBe(200);
    return sent.body;
  }

  beforeAll(async () => {
    [a, b, dataDir] = await Promise.all([
      startTestParley({ queue: "redis" }),
      // The web role only: B's inbound (and deliver) jobs run in the child process below.
      startTestParley({
        queue: "redis",
        role: "web",
        queuePrefix,
        env: { LOG_LEVEL: "debug" },
        logStream: { write: (line) => logs.push(line) },
      }),
      mkdtemp(path.join(tmpdir(), "parley-stream-worker-")),
    ]);
    worker = await spawnWorkerProcess(b, { queuePrefix, dataDir });
    [alice, bob] = await Promise.all([createAccount(a, "alice"), createAccount(b, "bob")]);
    const found = await asAlice().get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(`${b.url}/users/bob`)}`);
    expect(found.status).toBe(200);
    const opened = await asAlice().post(`/api/v1/pleroma/chats/by-account-id/${found.body.id}`);
    aliceChatId = opened.body.id;
  }, 90_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await stopProcess(worker);
    await Promise.all([a?.close(), b?.close()]);
    await deleteRedisPrefix(queuePrefix);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 30_000);

  it("answers the health check with OK, and a GET without upgrade with 426", async () => {
    const health = await fetch(`${b.url}/api/v1/streaming/health`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe("OK");
    const plain = await fetch(`${b.url}/api/v1/streaming?stream=user`, { headers: { authorization: `Bearer ${bob.token}` } });
    expect(plain.status).toBe(426);
    expect(plain.headers.get("upgrade")).toBe("websocket");
  });

  it("refuses the upgrade (no socket) for a stream without a token or with a bad token; refuses unknown streams and paths", async () => {
    const refused = (query: Record<string, string>, options: Parameters<typeof openStream>[1] = {}, pathname?: string) => {
      const url = new URL(streamingUrl(b.url, query));
      if (pathname) url.pathname = pathname;
      return openStream(url.href, options).then(
        (client) => {
          client.close();
          throw new Error("the socket opened");
        },
        (error: { status?: number; body?: string }) => error,
      );
    };
    expect(await refused({ stream: "user" })).toMatchObject({ status: 401, body: JSON.stringify({ error: "missing_token" }) });
    expect(await refused({ stream: "user" }, { headers: { authorization: "Bearer not-a-token" } })).toMatchObject({ status: 401 });
    expect(await refused({ stream: "user", access_token: "not-a-token" })).toMatchObject({ status: 401 });
    expect(await refused({ stream: "user" }, { protocols: ["not-a-token"] })).toMatchObject({ status: 401 });
    expect(await refused({ stream: "public:remote" }, bearer(bob))).toMatchObject({ status: 400 });
    expect(await refused({ stream: "user" }, bearer(bob), "/api/v1/elsewhere")).toMatchObject({ status: 404 });
  });

  it("streams pleroma:chat_update to user:pleroma_chat and user within 1 s of alice sending on A, and a notification to user", async () => {
    const chatStream = await open(b.url, { stream: "user:pleroma_chat" }, bearer(bob));
    const userStream = await open(b.url, { stream: "user" }, bearer(bob));

    // The first message also makes B fetch alice's actor: not part of the timing.
    await aliceSends("warm-up");
    const first = await chatStream.next(withContent("user:pleroma_chat", "warm-up"), 10_000, "the first chat update");
    expect(typeof first.payload).toBe("string");
    bobChatId = chatOf(first).id;
    expect(chatOf(first)).toMatchObject({ unread: 1, account: { acct: `alice@${new URL(a.url).host}` } });

    const started = Date.now();
    await aliceSends("Hello bob");
    const frame = await chatStream.next(withContent("user:pleroma_chat", "Hello bob"), 5_000, "the chat update");
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(1_000);
    expect(frame).toEqual({ stream: ["user:pleroma_chat"], event: "pleroma:chat_update", payload: expect.any(String) });
    const chat = chatOf(frame);
    expect(chat).toMatchObject({
      id: bobChatId,
      unread: 2,
      last_message: { chat_id: bobChatId, unread: true, content: expect.stringContaining("Hello bob") },
    });
    // The payload is the Chat as the REST API shows it to bob.
    const shown = await asBob().get(`/api/v1/pleroma/chats/${bobChatId}`);
    expect(chat).toEqual(shown.body);

    const onUser = await userStream.next(withContent("user", "Hello bob"), 1_000, "the chat update on user");
    expect(chatOf(onUser)).toEqual(chat);
    const notification = await userStream.next(
      (f) => f.event === "notification" && JSON.parse(f.payload).chat_message.content.includes("Hello bob"),
      1_000,
      "the notification",
    );
    expect(notification.stream).toEqual(["user"]);
    expect(JSON.parse(notification.payload)).toMatchObject({
      type: "pleroma:chat_mention",
      group_key: expect.stringMatching(/^ungrouped-/),
      account: { acct: `alice@${new URL(a.url).host}` },
      pleroma: { is_seen: false, is_muted: false },
      chat_message: { chat_id: bobChatId },
    });
    // Notifications go to `user` only (and `user:notification`), not to the chat stream.
    expect(chatStream.all((f) => f.event === "notification")).toEqual([]);
  });

  it("sends one frame per subscribed stream to a client on both", async () => {
    const both = await open(b.url, { stream: "user" }, bearer(bob));
    expect(await subscribe(both, "user:pleroma_chat")).toEqual({ type: "subscribe", result: "success" });
    await aliceSends("twice");
    await both.next(withContent("user", "twice"), 5_000, "the frame on user");
    await both.next(withContent("user:pleroma_chat", "twice"), 5_000, "the frame on user:pleroma_chat");
    await sleep(200);
    expect(both.all((f) => f.event === "pleroma:chat_update" && chatOf(f).last_message.content.includes("twice"))).toHaveLength(2);
  });

  it("streams a new message as pleroma:chat_update, a deletion as delete, and every other change as parley: events", async () => {
    const bobStream = await open(b.url, { stream: "user:pleroma_chat" }, bearer(bob));
    const aliceStream = await open(a.url, { stream: "user:pleroma_chat" }, bearer(alice));
    const stream = "user:pleroma_chat";
    const parleyChat = (until: (chat: any) => boolean) => (f: Frame) =>
      f.event === "parley:chat_update" && f.stream?.[0] === stream && until(chatOf(f));
    const parleyMessage = (until: (message: any) => boolean) => (f: Frame) =>
      f.event === "parley:chat_message_update" && f.stream?.[0] === stream && until(JSON.parse(f.payload));
    const deleted = (id: string) => (f: Frame) => f.event === "delete" && f.payload === id;

    // Read: Parley's own event carries the counter at 0 (Pleroma streams nothing on a read).
    const read = await asBob().post(`/api/v1/pleroma/chats/${bobChatId}/read`);
    expect(read.status).toBe(200);
    expect(
      chatOf(
        await bobStream.next(
          parleyChat((chat) => chat.unread === 0),
          2_000,
          "the read",
        ),
      ),
    ).toEqual(read.body);

    // Alice's message on A: its delivery state (A's deliver worker) is streamed to her as a message update.
    const sent = await aliceSends("to be edited");
    await aliceStream.next(
      parleyMessage((m) => m.id === sent.id && m.parley?.delivery === "delivered"),
      5_000,
      "the delivered state",
    );
    const arrived = await bobStream.next(withContent(stream, "to be edited"), 5_000, "the message on B");
    expect(chatOf(arrived).unread).toBe(1);

    // One message read: unread 0 again.
    const bobMessageId = chatOf(arrived).last_message.id;
    expect((await asBob().post(`/api/v1/pleroma/chats/${bobChatId}/messages/${bobMessageId}/read`)).status).toBe(200);
    await bobStream.next(
      parleyChat((chat) => chat.unread === 0),
      2_000,
      "the message read",
    );

    // A remote edit (Update applied by B's worker process).
    expect((await asAlice().put(`/api/v1/pleroma/chats/${aliceChatId}/messages/${sent.id}`, { content: "edited by alice" })).status).toBe(
      200,
    );
    const edited = await bobStream.next(
      parleyMessage((m) => m.id === bobMessageId && m.content.includes("edited by alice")),
      5_000,
      "the edit on B",
    );
    expect(JSON.parse(edited.payload).edited_at).toEqual(expect.any(String));

    // A remote delete (tombstone): `delete` with bob's id of it, then the chat whose last message is the one before.
    expect((await asAlice().delete(`/api/v1/pleroma/chats/${aliceChatId}/messages/${sent.id}`)).status).toBe(200);
    expect((await bobStream.next(deleted(bobMessageId), 5_000, "the remote delete on B")).stream).toEqual([stream]);
    await bobStream.next(
      parleyChat((chat) => chat.last_message?.content.includes("twice")),
      2_000,
      "the chat after the remote delete",
    );

    // Bob's own message: the delivery state comes from B's worker process.
    const reply = await asBob().post(`/api/v1/pleroma/chats/${bobChatId}/messages`, { content: "bob replies" });
    expect(reply.status).toBe(200);
    await bobStream.next(
      parleyMessage((m) => m.id === reply.body.id && m.parley?.delivery === "delivered"),
      5_000,
      "bob's delivered state",
    );
    await aliceStream.next(withContent(stream, "bob replies"), 5_000, "bob's message on A");

    // A local edit, then a delete of his own message.
    expect((await asBob().put(`/api/v1/pleroma/chats/${bobChatId}/messages/${reply.body.id}`, { content: "bob edits" })).status).toBe(200);
    await bobStream.next(
      parleyMessage((m) => m.id === reply.body.id && m.content.includes("bob edits")),
      2_000,
      "bob's edit",
    );
    expect((await asBob().delete(`/api/v1/pleroma/chats/${bobChatId}/messages/${reply.body.id}`)).status).toBe(200);
    await bobStream.next(deleted(reply.body.id), 2_000, "bob's delete");

    // Another's message deleted for bob only, then the chat hidden.
    const last = (await asBob().get(`/api/v1/pleroma/chats/${bobChatId}`)).body.last_message;
    expect(last.content).toContain("twice");
    expect((await asBob().delete(`/api/v1/pleroma/chats/${bobChatId}/messages/${last.id}`)).status).toBe(200);
    await bobStream.next(deleted(last.id), 2_000, "the message hidden for bob");
    await bobStream.next(
      parleyChat((chat) => chat.last_message?.content.includes("Hello bob")),
      2_000,
      "the chat after hiding a message",
    );
    const before = bobStream.frames.length;
    expect((await asBob().delete(`/api/v1/pleroma/chats/${bobChatId}`)).status).toBe(200);
    await bobStream.next((f) => parleyChat(() => true)(f) && bobStream.frames.indexOf(f) >= before, 2_000, "the hidden chat");

    // None of these changes looked like a new message to a client: one pleroma:chat_update each for
    // the two messages that arrived (alice's on B, bob's own reply), nothing else.
    await sleep(200);
    expect(bobStream.all(isChatUpdate(stream)).map((f) => chatOf(f).last_message.content)).toEqual([
      expect.stringContaining("to be edited"),
      expect.stringContaining("bob replies"),
    ]);
  });

  it("honours subscribe and unsubscribe messages", async () => {
    const toggled = await open(b.url, {}, bearer(bob));
    const witness = await open(b.url, { stream: "user:pleroma_chat" }, bearer(bob));
    expect(await subscribe(toggled, "user:pleroma_chat")).toEqual({ type: "subscribe", result: "success" });
    await aliceSends("while subscribed");
    await toggled.next(withContent("user:pleroma_chat", "while subscribed"), 5_000, "the subscribed frame");

    expect(await subscribe(toggled, "user:pleroma_chat", "unsubscribe")).toEqual({ type: "unsubscribe", result: "success" });
    await aliceSends("after unsubscribing");
    await witness.next(withContent("user:pleroma_chat", "after unsubscribing"), 5_000, "the witness's frame");
    await sleep(200);
    expect(toggled.all(withContent("user:pleroma_chat", "after unsubscribing"))).toEqual([]);

    expect(await subscribe(toggled, "public")).toEqual({ type: "subscribe", result: "error", error: "bad_topic" });
    toggled.ws.send("not json");
    const bad = await toggled.next(
      (f) => f.event === "pleroma:respond" && JSON.parse(f.payload).error === "bad_request",
      2_000,
      "bad_request",
    );
    expect(JSON.parse(bad.payload)).toEqual({ type: "unknown", result: "error", error: "bad_request" });
  });

  it("authenticates by Sec-WebSocket-Protocol (echoed back) and by ?access_token=", async () => {
    const byProtocol = await open(b.url, { stream: "user:pleroma_chat" }, { protocols: [bob.token] });
    expect(byProtocol.ws.protocol).toBe(bob.token);
    const byQuery = await open(b.url, { stream: "user:pleroma_chat", access_token: bob.token });
    await aliceSends("any auth");
    await byProtocol.next(withContent("user:pleroma_chat", "any auth"), 5_000, "the frame (protocol auth)");
    await byQuery.next(withContent("user:pleroma_chat", "any auth"), 5_000, "the frame (query auth)");
  });

  it("keeps streaming after its LISTEN connection is killed (reconnects)", async () => {
    const client = await open(b.url, { stream: "user:pleroma_chat" }, bearer(bob));
    const sql = b.parley.deps.db.$client;
    const listeners = () => sql`SELECT pid FROM pg_stat_activity WHERE application_name = 'parley-events' AND datname = current_database()`;
    const [old] = await listeners();
    expect(old).toBeDefined();
    await sql`SELECT pg_terminate_backend(${old.pid})`;
    await waitUntil(async () => (await listeners()).some((row) => row.pid !== old.pid), 10_000, "a new LISTEN connection");
    await aliceSends("after the drop");
    await client.next(withContent("user:pleroma_chat", "after the drop"), 5_000, "the frame after reconnecting");
  });

  it("never logs a token, even one in the query string", async () => {
    await fetch(`${b.url}/api/v1/streaming?stream=user&access_token=${bob.token}`);
    await fetch(`${b.url}/api/v1/streaming/health?access_token=${bob.token}`);
    // An upgrade request whose Upgrade header a proxy dropped: a plain GET, logged with its headers.
    await fetch(`${b.url}/api/v1/streaming?stream=user`, { headers: { "sec-websocket-protocol": bob.token } });
    await openStream(streamingUrl(b.url, { stream: "user", access_token: "secret-bad-token" })).catch(() => undefined);
    const client = await open(b.url, { stream: "user", access_token: bob.token });
    client.close();
    await sleep(100);
    const all = logs.join("\n");
    expect(all).toContain("access_token=[redacted]");
    expect(all).toContain("streaming: upgrade refused");
    for (const secret of [bob.token, "secret-bad-token"]) expect(all).not.toContain(secret);
  });
});

/** An instance of its own with streaming timings for one behaviour, plus two accounts. */
function isolatedInstance(streamingTuning: Partial<StreamingTuning>) {
  const env = { logs: [] as string[] } as { logs: string[]; instance: TestParley; carol: Account; dave: Account };
  beforeAll(async () => {
    env.instance = await startTestParley({
      queue: "postgres",
      env: { CHAT_MESSAGE_LIMIT: "100000", LOG_LEVEL: "info" },
      logStream: { write: (line) => env.logs.push(line) },
      streamingTuning,
    });
    [env.carol, env.dave] = await Promise.all([createAccount(env.instance, "carol"), createAccount(env.instance, "dave")]);
  });
  afterAll(() => env.instance?.close());
  return env;
}

describe("heartbeats", () => {
  const env = isolatedInstance({ heartbeatMs: 200 });

  it("terminates a socket that stops answering pings, and keeps one that answers", async () => {
    const headers = { authorization: `Bearer ${env.dave.token}` };
    const silent = await openStream(streamingUrl(env.instance.url, { stream: "user" }), { headers, autoPong: false });
    const healthy = await openStream(streamingUrl(env.instance.url, { stream: "user" }), { headers });
    await silent.whenClosed(3_000);
    await sleep(600);
    expect(healthy.closed).toBe(false);
    healthy.close();
  });
});

describe("slow clients", () => {
  const env = isolatedInstance({ maxBufferedBytes: 256 * 1024 });

  it("disconnects a client that does not read once its send buffer passes the cap", async () => {
    const { instance, carol, dave, logs } = env;
    // A raw socket that completes the handshake, then never reads again.
    const port = new URL(instance.url).port;
    const socket = connect(Number(port), "127.0.0.1");
    await once(socket, "connect");
    socket.write(
      `GET /api/v1/streaming?stream=user:pleroma_chat HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${dave.token}\r\n\r\n`,
    );
    const [answer] = (await once(socket, "data")) as [Buffer];
    expect(answer.toString()).toMatch(/^HTTP\/1\.1 101 /);
    socket.pause();

    const opened = await api(instance.url, carol.token).post(`/api/v1/pleroma/chats/by-account-id/${dave.account.id}`);
    const big = "x".repeat(90_000);
    const slowLogged = () => logs.map((line) => JSON.parse(line)).find((entry) => entry.msg === "streaming: slow client disconnected");
    for (let i = 0; i < 300 && !slowLogged(); i++) {
      const sent = await api(instance.url, carol.token).post(`/api/v1/pleroma/chats/${opened.body.id}/messages`, {
        content: `${i} ${big}`,
      });
      expect(sent.status).toBe(200);
    }
    const entry = await waitUntil(async () => slowLogged(), 5_000, "the slow client to be disconnected");
    // It never held more than the cap for that socket.
    expect(entry.buffered).toBeLessThanOrEqual(256 * 1024);
    socket.destroy();
  }, 120_000);
});
