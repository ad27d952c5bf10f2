import { type Json, pleromaChatMessage, settled } from "./helpers/inbox.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";
import { pleromaPort } from "./helpers/pleroma-port.js";
import { type RemoteActor, type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";
import type { Frame, StreamClient } from "./helpers/streaming.js";

/**
 * What Pleroma's side effects and streamer do with chat messages (kphrx/pleroma, develop), ported to
 * HTTP: sockets on `/api/v1/streaming` and the chat API observe what `SideEffects.handle` and
 * `Streamer.stream` produce. Files: test/pleroma/web/activity_pub/side_effects_test.exs (its chat
 * cases), test/pleroma/web/streamer_test.exs (its chat cases),
 * test/pleroma/activity/ir/topics_test.exs (describe "chat message").
 *
 * Parts left out: `assert_enqueued(worker: WebPusherWorker)` (Parley has no Web Push), and the
 * "notification is created but not sent out inside the transaction" checks (internal timing; the
 * HTTP-visible outcome is that events arrive only after the commit, which every case here waits for).
 */

let parley: TestParley;
let remote: RemoteServer;
let author: RemoteActor;
const clients: StreamClient[] = [];
const { account, as, chatWith, postChatMessage, chatOf, messagesOf, stream } = pleromaPort(() => parley);

beforeAll(async () => {
  [parley, remote] = await Promise.all([startTestParley({ queue: "postgres" }), startRemoteServer()]);
  author = remote.actor("author", { capabilities: { acceptsChatMessages: true } });
});
afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all([parley?.close(), remote?.close()]);
});

type Local = Awaited<ReturnType<typeof account>>;
const on = (event: string, name: string) => (f: Frame) => f.event === event && f.stream?.[0] === name;

/** A remote author's "hey" (Builder.chat_message + Builder.create, handled as incoming). */
async function remoteHey(recipient: Local) {
  const activity: Json = pleromaChatMessage(author, `${parley.url}/users/${recipient.account.username}`, { content: "hey" });
  expect((await signedPost(`${parley.url}/inbox`, activity, author)).status).toBe(202);
  await settled(parley);
}
const remoteChatOf = async (who: Local) =>
  ((await as(who).get("/api/v1/pleroma/chats")).body as Json[]).find((c) => c.account.uri === author.id);

describe("handle_after_transaction", () => {
  test("it streams out notifications and streams", async () => {
    const [sender, recipient] = [await account("author"), await account("recipient")];
    const socket = await stream(recipient, ["user", "user:notification", "user:pleroma_chat"], clients);
    await postChatMessage(sender, recipient, "hey");
    for (const name of ["user", "user:notification"]) {
      const frame = await socket.next(on("notification", name), 5_000, `notification on ${name}`);
      expect(JSON.parse(frame.payload)).toMatchObject({ type: "pleroma:chat_mention", chat_message: { content: "hey" } });
    }
    for (const name of ["user", "user:pleroma_chat"]) {
      const frame = await socket.next(on("pleroma:chat_update", name), 5_000, `chat update on ${name}`);
      expect(JSON.parse(frame.payload).last_message.content).toBe("hey");
    }
  });
});

describe("creation of ChatMessages", () => {
  test("notifies the recipient", async () => {
    const recipient = await account("recipient");
    await remoteHey(recipient);
    const notifications = await as(recipient).get("/api/v1/notifications?include_types[]=pleroma:chat_mention");
    expect(notifications.body).toEqual([
      expect.objectContaining({ type: "pleroma:chat_mention", account: expect.objectContaining({ uri: author.id }) }),
    ]);
  });

  test("it streams the created ChatMessage", async () => {
    const [sender, recipient] = [await account("author"), await account("recipient")];
    const sockets = [await stream(sender, ["user:pleroma_chat"], clients), await stream(recipient, ["user:pleroma_chat"], clients)];
    await postChatMessage(sender, recipient, "hey");
    // Two streamables: one chat update for each local participant.
    for (const socket of sockets) {
      const frame = await socket.next(on("pleroma:chat_update", "user:pleroma_chat"), 5_000, "chat update");
      expect(JSON.parse(frame.payload).last_message.content).toBe("hey");
    }
  });

  test("it creates a Chat and MessageReferences for the local users and bumps the unread count, except for the author", async () => {
    const [sender, recipient] = [await account("author"), await account("recipient")];
    await postChatMessage(sender, recipient, "hey");

    const authorChat = (await chatOf(sender, recipient))!;
    const [authorRef] = await messagesOf(sender, authorChat.id);
    expect(authorRef).toMatchObject({ content: "hey", unread: false });
    expect(authorChat.unread).toBe(0);

    const recipientChat = (await chatOf(recipient, sender))!;
    const [recipientRef] = await messagesOf(recipient, recipientChat.id);
    expect(recipientRef).toMatchObject({ content: "hey", unread: true });
    expect(recipientChat.unread).toBe(1);
  });

  test("it creates a Chat for the local users and bumps the unread count", async () => {
    const recipient = await account("recipient");
    await remoteHey(recipient);
    // The local user will get a chat (the remote author's server keeps its own).
    const chat = await remoteChatOf(recipient);
    expect(chat).toMatchObject({ unread: 1, last_message: { content: "hey" } });

    // Both users are local and get the chat
    const [localAuthor, localRecipient] = [await account("author"), await account("recipient")];
    await postChatMessage(localAuthor, localRecipient, "hey");
    expect(await chatOf(localAuthor, localRecipient)).toBeDefined();
    expect(await chatOf(localRecipient, localAuthor)).toBeDefined();
  });
});

describe("Pleroma.Web.StreamerTest", () => {
  test("it sends chat messages to the 'user:pleroma_chat' stream", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const socket = await stream(user, ["user:pleroma_chat"], clients);
    const chatId = await chatWith(otherUser, user);
    const sent = await as(otherUser).post(
      `/api/v1/pleroma/chats/${chatId}/messages`,
      { content: "hey cirno" },
      { "idempotency-key": "123" },
    );
    expect(sent.status).toBe(200);
    const frame = await socket.next(on("pleroma:chat_update", "user:pleroma_chat"), 5_000, "chat update");
    expect(frame.payload).toContain("hey cirno");
    // StreamerView "chat_update.json": the chat as its owner sees it.
    const chat = (await chatOf(user, otherUser))!;
    expect(JSON.parse(frame.payload)).toEqual((await as(user).get(`/api/v1/pleroma/chats/${chat.id}`)).body);
  });

  test("it sends chat messages to the 'user' stream", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const socket = await stream(user, ["user"], clients);
    await postChatMessage(otherUser, user, "hey cirno");
    const frame = await socket.next(on("pleroma:chat_update", "user"), 5_000, "chat update");
    expect(frame.payload).toContain("hey cirno");
    const chat = (await chatOf(user, otherUser))!;
    expect(JSON.parse(frame.payload)).toEqual((await as(user).get(`/api/v1/pleroma/chats/${chat.id}`)).body);
  });

  test("it sends chat message notifications to the 'user:notification' stream", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const socket = await stream(user, ["user:notification"], clients);
    await postChatMessage(otherUser, user, "hey");
    const frame = await socket.next(on("notification", "user:notification"), 5_000, "notification");
    const notification = JSON.parse(frame.payload);
    expect(notification).toMatchObject({ type: "pleroma:chat_mention", account: { id: otherUser.account.id } });
    const listed = await as(user).get("/api/v1/notifications?include_types[]=pleroma:chat_mention");
    expect(listed.body.map((n: Json) => n.id)).toEqual([notification.id]);
  });
});

describe("chat message", () => {
  test("Create produces no topics", async () => {
    // No status topic for a ChatMessage: nothing is streamed as a status (`update`) event.
    const [user, otherUser] = [await account("user"), await account("other")];
    const socket = await stream(user, ["user"], clients);
    await postChatMessage(otherUser, user, "hey");
    await socket.next(on("pleroma:chat_update", "user"), 5_000, "chat update");
    expect(socket.all((f) => f.event === "update" || f.event === "status.update")).toEqual([]);
  });

  test("Delete produces user and user:pleroma_chat", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const { chatId, message } = await postChatMessage(otherUser, user, "hey");
    const socket = await stream(user, ["user", "user:pleroma_chat"], clients);
    const userChat = (await chatOf(user, otherUser))!;
    const [userRef] = await messagesOf(user, userChat.id);
    expect((await as(otherUser).delete(`/api/v1/pleroma/chats/${chatId}/messages/${message.id}`)).status).toBe(200);
    // Issue 12: the `delete` event carries the message's id (as this user knows it).
    for (const name of ["user", "user:pleroma_chat"]) {
      const frame = await socket.next(on("delete", name), 5_000, `delete on ${name}`);
      expect(frame.payload).toBe(userRef.id);
    }
  });
});
