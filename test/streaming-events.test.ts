import { jest } from "@jest/globals";
import { Pleroma } from "megalodon";
import { chatHelpers } from "./helpers/chats.js";
import { sleep } from "./helpers/delivery.js";
import { unrefTimersWhileSocketOpen } from "./helpers/megalodon.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";
import { type Frame, openStream, type StreamClient, streamingUrl } from "./helpers/streaming.js";

/**
 * Which stream events a chat's changes give, judged by what real clients do with them:
 * - Soapbox (May 2025), src/stream.ts `getStream`: `/api/v1/streaming/?stream=user`, the token as
 *   `Sec-WebSocket-Protocol`; src/actions/streaming.ts `connectTimelineStream.onReceive`: a
 *   `pleroma:chat_update` whose `last_message` is not the user's own plays the chat sound and
 *   (utils/chats.ts `updateChatListItem`) puts `last_message` on top of the open chat;
 *   `chat_message.deleted` removes `deleted_message_id` from the open chat (`removeChatMessage`);
 *   `delete` and unknown events are ignored.
 * - Pleroma-FE (April 2025), modules/api.js `startMastoUserSocket`: `pleroma:chat_update` →
 *   `addChatMessages([lastMessage])` (a null last message throws); unknown events are dropped by
 *   api.service.js `handleMastoWS`.
 * - megalodon 10 (Pleroma driver), pleroma/web_socket.js `Parser.parse`: `delete` is emitted with
 *   the bare id; an event it does not know is a `parser-error`, the socket kept.
 */

let instance: TestParley;
const { account, as, chatWith, send } = chatHelpers(() => instance);
const clients: StreamClient[] = [];

beforeAll(async () => {
  instance = await startTestParley({ queue: "postgres" });
});

afterAll(async () => {
  for (const client of clients) client.close();
  await instance?.close();
});

/** Soapbox's streaming connection (src/stream.ts `getStream`). */
async function openLikeSoapbox(token: string): Promise<StreamClient> {
  const url = new URL(streamingUrl(instance.url, { stream: "user" }));
  url.pathname = "/api/v1/streaming/";
  const client = await openStream(url.href, { protocols: [token] });
  clients.push(client);
  return client;
}

/** What a Soapbox user hears and sees of one open chat, after the frames its socket received. */
function soapboxView(frames: Frame[], me: string, openChatId: string, loaded: string[]) {
  let sounds = 0;
  let open = [...loaded];
  for (const frame of frames) {
    if (frame.event === "pleroma:chat_update" || frame.event === "chat_message.created") {
      const chat = JSON.parse(frame.payload);
      if (chat.last_message?.account_id === me) continue;
      sounds++;
      if (chat.id === openChatId && chat.last_message) open = [chat.last_message.id, ...open];
    } else if (frame.event === "chat_message.deleted") {
      const { chat_id, deleted_message_id } = JSON.parse(frame.payload);
      if (chat_id === openChatId) open = open.filter((id) => id !== deleted_message_id);
    }
  }
  return { sounds, open };
}

const chatUpdates = (client: StreamClient) => client.all((f) => f.event === "pleroma:chat_update").map((f) => JSON.parse(f.payload));

it("plays Soapbox's chat: one new message, the reader's own read, an edit and a delete give one sound and leave the open chat right", async () => {
  const [reader, writer] = await Promise.all([account("sb_reader"), account("sb_writer")]);
  const writerChatId = await chatWith(writer, reader);
  await send(writer, writerChatId, "an older message");
  const readerChatId = await chatWith(reader, writer);
  // The open chat, as useChatMessages loads it (newest first).
  const loaded = (await as(reader).get(`/api/v1/pleroma/chats/${readerChatId}/messages`)).body.map((m: { id: string }) => m.id);
  expect(loaded).toHaveLength(1);

  const socket = await openLikeSoapbox(reader.token);
  const writerSocket = await openLikeSoapbox(writer.token);
  const sent = await send(writer, writerChatId, "one new message");
  const arrived = await socket.next((f) => f.event === "pleroma:chat_update", 5_000, "the new message");
  const message = JSON.parse(arrived.payload).last_message;
  expect(message).toMatchObject({
    account_id: writer.account.id,
    content: expect.stringContaining("one new message"),
    chat_id: readerChatId,
  });

  // useChatActions.markChatAsRead, as the open chat shows the message.
  const read = await as(reader).post(`/api/v1/pleroma/chats/${readerChatId}/read`, { last_read_id: message.id });
  expect(read.status).toBe(200);
  expect(read.body.unread).toBe(0);
  // The reader's other devices learn it from Parley's own event.
  const readEvent = await socket.next((f) => f.event === "parley:chat_update", 3_000, "the read on other devices");
  expect(JSON.parse(readEvent.payload)).toMatchObject({ id: readerChatId, unread: 0 });

  expect(
    (await as(writer).put(`/api/v1/pleroma/chats/${writerChatId}/messages/${sent.id}`, { content: "one edited message" })).status,
  ).toBe(200);
  const edited = await socket.next((f) => f.event === "parley:chat_message_update", 3_000, "the edit");
  expect(JSON.parse(edited.payload)).toMatchObject({ id: message.id, content: expect.stringContaining("one edited message") });

  // The writer deletes it for everyone: each side is told its own id of it.
  expect((await as(writer).delete(`/api/v1/pleroma/chats/${writerChatId}/messages/${sent.id}`)).status).toBe(200);
  const deleted = await socket.next((f) => f.event === "delete", 3_000, "the delete");
  expect(deleted).toEqual({ stream: ["user"], event: "delete", payload: message.id });
  const truthSocial = await socket.next((f) => f.event === "chat_message.deleted", 3_000, "chat_message.deleted");
  expect(JSON.parse(truthSocial.payload)).toEqual({ chat_id: readerChatId, deleted_message_id: message.id });
  expect((await writerSocket.next((f) => f.event === "delete", 3_000, "the writer's delete")).payload).toBe(sent.id);
  await socket.next(
    (f) => f.event === "parley:chat_update" && JSON.parse(f.payload).last_message?.id === loaded[0],
    3_000,
    "the chat after",
  );
  await sleep(300);

  // Exactly one chat_update for the reader: the new message (none for the read, edit or delete).
  expect(chatUpdates(socket).map((chat) => chat.last_message.id)).toEqual([message.id]);
  expect(socket.all((f) => f.event === "delete").map((f) => f.payload)).toEqual([message.id]);
  // The delete came after the chat_update of the same message.
  expect(socket.frames.indexOf(arrived)).toBeLessThan(socket.frames.indexOf(deleted));
  const view = soapboxView(socket.frames, reader.account.id, readerChatId, loaded);
  expect(view).toEqual({ sounds: 1, open: loaded });
  // The writer's own message played nothing on the writer's Soapbox.
  expect(soapboxView(writerSocket.frames, writer.account.id, writerChatId, []).sounds).toBe(0);
});

it("tells only the reader when the reader deletes someone else's message for themself", async () => {
  const [reader, writer] = await Promise.all([account("hide_reader"), account("hide_writer")]);
  const writerChatId = await chatWith(writer, reader);
  const socket = await openLikeSoapbox(reader.token);
  const writerSocket = await openLikeSoapbox(writer.token);
  await send(writer, writerChatId, "first");
  await send(writer, writerChatId, "second");
  const second = await socket.next(
    (f) => f.event === "pleroma:chat_update" && JSON.parse(f.payload).last_message.content.includes("second"),
  );
  const { id: readerMessageId, chat_id: readerChatId } = JSON.parse(second.payload).last_message;

  expect((await as(reader).delete(`/api/v1/pleroma/chats/${readerChatId}/messages/${readerMessageId}`)).status).toBe(200);
  expect((await socket.next((f) => f.event === "delete", 3_000, "the delete")).payload).toBe(readerMessageId);
  await sleep(300);
  expect(writerSocket.all((f) => f.event === "delete" || f.event === "chat_message.deleted")).toEqual([]);
  // Each arrival was one chat_update, in order, each with its own message (Pleroma renders the new reference).
  expect(chatUpdates(socket).map((chat) => chat.last_message.content)).toEqual([
    expect.stringContaining("first"),
    expect.stringContaining("second"),
  ]);
});

it("never streams a pleroma:chat_update with last_message null: a chat emptied by a delete gets Parley's event only", async () => {
  const [reader, writer] = await Promise.all([account("empty_reader"), account("empty_writer")]);
  const writerChatId = await chatWith(writer, reader);
  const socket = await openLikeSoapbox(reader.token);
  const writerSocket = await openLikeSoapbox(writer.token);
  const only = await send(writer, writerChatId, "the only message");
  const arrived = await socket.next((f) => f.event === "pleroma:chat_update", 5_000, "the message");
  const readerChat = JSON.parse(arrived.payload);

  expect((await as(writer).delete(`/api/v1/pleroma/chats/${writerChatId}/messages/${only.id}`)).status).toBe(200);
  expect((await socket.next((f) => f.event === "delete", 3_000, "the delete")).payload).toBe(readerChat.last_message.id);
  const emptied = await socket.next((f) => f.event === "parley:chat_update", 3_000, "the emptied chat");
  expect(JSON.parse(emptied.payload)).toMatchObject({ id: readerChat.id, last_message: null, unread: 0 });
  await writerSocket.next(
    (f) => f.event === "parley:chat_update" && JSON.parse(f.payload).last_message === null,
    3_000,
    "the writer's emptied chat",
  );
  await sleep(300);

  for (const client of [socket, writerSocket]) {
    // Pleroma-FE's addChatMessages([lastMessage]) needs a message in every chat_update.
    for (const chat of chatUpdates(client)) expect(chat.last_message).not.toBeNull();
  }
  expect(chatUpdates(socket)).toHaveLength(1);
  expect(chatUpdates(writerSocket)).toHaveLength(1);
});

it("keeps megalodon's Pleroma socket up through chat events, Parley's events and a delete", async () => {
  const [reader, writer] = await Promise.all([account("mg_reader"), account("mg_writer")]);
  const socketUrl = new URL("/api/v1/streaming", instance.url.replace(/^http/, "ws")).href;
  // megalodon starts a 10 s ping timer on open that stop() leaves behind: it must not hold the run
  // open. Its notices of what it does not parse (a pleroma:chat_mention notification) are expected.
  const restoreTimers = unrefTimersWhileSocketOpen();
  const warnings = jest.spyOn(console, "warn").mockImplementation(() => {});
  // PleromaAPI.Client.socket, as `userStreaming()` calls it once it knows the streaming URL.
  const megalodon = new Pleroma(instance.url, reader.token).client.socket(socketUrl, "user");
  const seen = { connect: 0, deletes: [] as string[], parserErrors: 0, closes: 0, errors: 0 };
  megalodon.on("connect", () => seen.connect++);
  megalodon.on("delete", (id: string) => seen.deletes.push(id));
  megalodon.on("parser-error", () => seen.parserErrors++);
  megalodon.on("close", () => seen.closes++);
  megalodon.on("error", () => seen.errors++);
  try {
    const witness = await openLikeSoapbox(reader.token);
    for (let i = 0; i < 50 && seen.connect === 0; i++) await sleep(100);
    expect(seen.connect).toBe(1);

    const writerChatId = await chatWith(writer, reader);
    const sent = await send(writer, writerChatId, "to megalodon");
    const arrived = await witness.next((f) => f.event === "pleroma:chat_update", 5_000, "the message");
    const readerMessage = JSON.parse(arrived.payload).last_message;
    await as(reader).post(`/api/v1/pleroma/chats/${readerMessage.chat_id}/read`, { last_read_id: readerMessage.id });
    await as(writer).delete(`/api/v1/pleroma/chats/${writerChatId}/messages/${sent.id}`);
    await witness.next((f) => f.event === "chat_message.deleted", 3_000, "the deletion");
    for (let i = 0; i < 30 && seen.deletes.length === 0; i++) await sleep(100);

    expect(seen.deletes).toEqual([readerMessage.id]);
    // chat_update, parley:chat_update (read, delete) and chat_message.deleted: unknown to megalodon, skipped.
    expect(seen.parserErrors).toBeGreaterThanOrEqual(3);
    expect(seen).toMatchObject({ connect: 1, closes: 0, errors: 0 });
  } finally {
    megalodon.stop();
    restoreTimers();
    warnings.mockRestore();
  }
});
