import { type Account, chatHelpers } from "./helpers/chats.js";
import { sleep } from "./helpers/delivery.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";
import { type Frame, openStream, type StreamClient, streamingUrl, subscribe } from "./helpers/streaming.js";

/**
 * The streaming handshake of Pleroma-FE (develop, April 2025) and Pleroma's answers to it
 * (Pleroma's mastodon_websocket_test.exs, websocket_handler.ex, streamer_view.ex).
 *
 * Pleroma-FE's sequence, since October 2024: `backend_interactor_service.startUserSocket` opens
 * `getMastodonSocketURI({}, server)` — `/api/v1/streaming` with no token and no stream —;
 * api.service.js `ProcessedWS` sends `{"type":"pleroma:authenticate","token":…}` on `open`;
 * `handleMastoWS` reads `pleroma:respond` — `success` fires `pleroma:authenticated`, anything else
 * closes the socket —; modules/api.js `startMastoUserSocket` subscribes to `user` on
 * `pleroma:authenticated` and hands `pleroma:chat_update` to `addChatMessages`/`updateChat`.
 */

const AUTH_TIMEOUT_MS = 600;

let instance: TestParley;
const { account, as, chatWith, send } = chatHelpers(() => instance);
const clients: StreamClient[] = [];

beforeAll(async () => {
  instance = await startTestParley({ queue: "postgres", streamingTuning: { authTimeoutMs: AUTH_TIMEOUT_MS } });
});

afterAll(async () => {
  for (const client of clients) client.close();
  await instance?.close();
});

/** `getMastodonSocketURI({}, server)`: the streaming URL without token nor stream. */
async function openLikePleromaFe(): Promise<StreamClient> {
  const client = await openStream(streamingUrl(instance.url));
  clients.push(client);
  return client;
}

const responds = (type: string) => (frame: Frame) => frame.event === "pleroma:respond" && JSON.parse(frame.payload).type === type;

/** The next `pleroma:respond` to `type`, its payload parsed (and the frame checked to be Pleroma's shape). */
async function answer(client: StreamClient, type: string) {
  const frame = await client.next(responds(type), 3_000, `the answer to ${type}`);
  expect(Object.keys(frame).sort()).toEqual(["event", "payload"]);
  expect(typeof frame.payload).toBe("string");
  return JSON.parse(frame.payload) as Record<string, string>;
}

function closeOf(client: StreamClient, timeoutMs: number): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
    client.ws.once("close", (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}

it("plays Pleroma-FE's handshake: token-less connect, authenticate, subscribe user, then a new message arrives", async () => {
  const [reader, writer] = await Promise.all([account("fe_reader"), account("fe_writer")]);
  const client = await openLikePleromaFe();

  // ProcessedWS, on open.
  client.send({ type: "pleroma:authenticate", token: reader.token });
  const authenticated = await client.next(responds("pleroma:authenticate"), 3_000, "the authentication answer");
  // Exactly Pleroma's frame: no `stream`, the payload a JSON string.
  expect(authenticated).toEqual({ event: "pleroma:respond", payload: expect.any(String) });
  expect(JSON.parse(authenticated.payload)).toEqual({ type: "pleroma:authenticate", result: "success" });

  // startMastoUserSocket, on `pleroma:authenticated`.
  client.send({ type: "subscribe", stream: "user" });
  expect(await answer(client, "subscribe")).toEqual({ type: "subscribe", result: "success" });

  const chatId = await chatWith(writer, reader);
  const sent = await send(writer, chatId, "hello Pleroma-FE");
  const frame = await client.next((f) => f.event === "pleroma:chat_update", 5_000, "the chat update");
  expect(frame.stream).toEqual(["user"]);
  const chat = JSON.parse(frame.payload);
  // What addChatMessages and updateChat read.
  expect(chat.last_message).toMatchObject({
    account_id: writer.account.id,
    content: expect.stringContaining("hello Pleroma-FE"),
    unread: true,
  });
  expect(chat.unread).toBe(1);
  expect(chat).toEqual((await as(reader).get(`/api/v1/pleroma/chats/${chat.id}`)).body);
  // The writer's message reached the reader only: the writer's id of it is another reference.
  expect(chat.last_message.id).not.toBe(sent.id);

  // Authenticated in time: the socket outlives the authentication timeout.
  await sleep(AUTH_TIMEOUT_MS * 2);
  expect(client.closed).toBe(false);
});

it("answers a bad token with Pleroma's error (Pleroma-FE then closes the socket itself)", async () => {
  const client = await openLikePleromaFe();
  client.send({ type: "pleroma:authenticate", token: "not-a-token" });
  expect(await answer(client, "pleroma:authenticate")).toEqual({ type: "pleroma:authenticate", result: "error", error: "unauthorized" });
  client.send({ type: "pleroma:authenticate" });
  expect(await answer(client, "pleroma:authenticate")).toEqual({ type: "pleroma:authenticate", result: "error", error: "unauthorized" });
  expect(client.closed).toBe(false);
});

it("closes a socket that does not authenticate in time with 1008 and a reason", async () => {
  const client = await openLikePleromaFe();
  const started = Date.now();
  const closed = await closeOf(client, AUTH_TIMEOUT_MS + 3_000);
  expect(closed).toEqual({ code: 1008, reason: "authentication timeout" });
  expect(Date.now() - started).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 50);
});

it("closes a socket after five failed authentications", async () => {
  const client = await openLikePleromaFe();
  const closed = closeOf(client, 3_000);
  for (let i = 0; i < 5; i++) client.send({ type: "pleroma:authenticate", token: `wrong-${i}` });
  expect(await closed).toEqual({ code: 1008, reason: "too many authentication attempts" });
  expect(client.all(responds("pleroma:authenticate"))).toHaveLength(5);
});

it("refuses subscribe before authenticate (Pleroma's unauthorized), streams nothing, then subscribes once authenticated", async () => {
  const [reader, writer] = await Promise.all([account("early_reader"), account("early_writer")]);
  const client = await openLikePleromaFe();
  expect(await subscribe(client, "user")).toEqual({ type: "subscribe", result: "error", error: "unauthorized" });
  expect(await subscribe(client, "user:pleroma_chat", "unsubscribe")).toEqual({
    type: "unsubscribe",
    result: "error",
    error: "unauthorized",
  });
  expect(await subscribe(client, "public")).toEqual({ type: "subscribe", result: "error", error: "bad_topic" });

  const chatId = await chatWith(writer, reader);
  await send(writer, chatId, "before authenticating");
  await sleep(300);
  expect(client.all((f) => f.event !== "pleroma:respond")).toEqual([]);

  // Sent back to back: the subscribe is handled once the authentication is known.
  client.send({ type: "pleroma:authenticate", token: reader.token });
  client.send({ type: "subscribe", stream: "user:pleroma_chat" });
  expect(await answer(client, "pleroma:authenticate")).toEqual({ type: "pleroma:authenticate", result: "success" });
  expect(await answer(client, "subscribe")).toEqual({ type: "subscribe", result: "success" });
  await send(writer, chatId, "after authenticating");
  const frame = await client.next((f) => f.event === "pleroma:chat_update", 5_000, "the chat update");
  expect(frame.stream).toEqual(["user:pleroma_chat"]);
  expect(JSON.parse(frame.payload).last_message.content).toContain("after authenticating");
});

it("answers a second authentication as Pleroma does (already_authenticated), except with the same account's token", async () => {
  const [reader, other] = await Promise.all([account("twice_reader"), account("twice_other")]);
  const client = await openLikePleromaFe();
  client.send({ type: "pleroma:authenticate", token: reader.token });
  expect((await answer(client, "pleroma:authenticate")).result).toBe("success");
  client.send({ type: "pleroma:authenticate", token: other.token });
  expect(await answer(client, "pleroma:authenticate")).toEqual({
    type: "pleroma:authenticate",
    result: "error",
    error: "already_authenticated",
  });
  client.send({ type: "pleroma:authenticate", token: "Something else" });
  expect(await answer(client, "pleroma:authenticate")).toEqual({
    type: "pleroma:authenticate",
    result: "error",
    error: "already_authenticated",
  });
  client.send({ type: "pleroma:authenticate", token: reader.token });
  expect(await answer(client, "pleroma:authenticate")).toEqual({ type: "pleroma:authenticate", result: "success" });

  // A socket that had its token on the upgrade is authenticated already.
  const byQuery = await openStream(streamingUrl(instance.url, { access_token: reader.token }));
  clients.push(byQuery);
  byQuery.send({ type: "pleroma:authenticate", token: other.token });
  expect(await answer(byQuery, "pleroma:authenticate")).toEqual({
    type: "pleroma:authenticate",
    result: "error",
    error: "already_authenticated",
  });
  byQuery.send({ type: "pleroma:authenticate", token: reader.token });
  expect(await answer(byQuery, "pleroma:authenticate")).toEqual({ type: "pleroma:authenticate", result: "success" });
});

it("answers a repeated subscribe and an unsubscribe of a stream not subscribed with `ignored`", async () => {
  const reader: Account = await account("ignored_reader");
  const client = await openStream(streamingUrl(instance.url, { stream: "user" }), { headers: { authorization: `Bearer ${reader.token}` } });
  clients.push(client);
  expect(await subscribe(client, "user")).toEqual({ type: "subscribe", result: "ignored" });
  expect(await subscribe(client, "user:notification", "unsubscribe")).toEqual({ type: "unsubscribe", result: "ignored" });
  expect(await subscribe(client, "user", "unsubscribe")).toEqual({ type: "unsubscribe", result: "success" });
});

it("refuses a token-less upgrade that names a stream (401, as Pleroma)", async () => {
  const refused = await openStream(streamingUrl(instance.url, { stream: "user" })).then(
    (client) => {
      client.close();
      return undefined;
    },
    (error: { status?: number; body?: string }) => error,
  );
  expect(refused).toMatchObject({ status: 401, body: JSON.stringify({ error: "missing_token" }) });
});
