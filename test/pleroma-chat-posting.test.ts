import { png, uploadEmoji } from "./helpers/media.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";
import { pleromaPort } from "./helpers/pleroma-port.js";
import type { Frame, StreamClient } from "./helpers/streaming.js";

/**
 * The chat cases of Pleroma's test/pleroma/web/common_api_test.exs (describe "posting chat
 * messages", kphrx/pleroma develop), ported to HTTP: `CommonAPI.post_chat_message` is
 * `POST /api/v1/pleroma/chats/:id/messages`, what it stored is read back through the chat API.
 *
 * Not applicable over HTTP (1 of 8 cases):
 * - "it reject messages via MRF": needs Pleroma's MRF KeywordPolicy configured; Parley has no MRF.
 * Parts of cases left out: "it posts a chat message" ends with `Federator.perform(:publish, …)`
 * (both users are local here: nothing to deliver); "…without content but with an attachment" also
 * checks `Pleroma.Web.Push.send` (Parley has no Web Push).
 */

let parley: TestParley;
const clients: StreamClient[] = [];
const { account, as, chatWith, postChatMessage, chatOf, messagesOf, uploadImage, stream } = pleromaPort(() => parley);

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
  // Pleroma's test instance has a `firefox` custom emoji; Parley's comes from the admin API.
  expect((await uploadEmoji(parley.url, parley.adminToken, "firefox", png())).status).toBe(201);
});
afterAll(async () => {
  for (const client of clients) client.close();
  await parley?.close();
});

/** The content the recipient received (`Object.normalize(activity).data["content"]`). */
async function receivedContent(author: Awaited<ReturnType<typeof account>>, recipient: Awaited<ReturnType<typeof account>>) {
  const chat = (await chatOf(recipient, author))!;
  return (await messagesOf(recipient, chat.id))[0].content as string;
}

describe("posting chat messages", () => {
  test("it posts a self-chat", async () => {
    const author = await account("author");
    const { message } = await postChatMessage(author, author, "remember to buy milk when milk truk arive");
    expect(message.content).toBe("remember to buy milk when milk truk arive");
  });

  test("it posts a chat message without content but with an attachment", async () => {
    const [author, recipient] = [await account("author"), await account("recipient")];
    const mediaId = await uploadImage(author);
    const socket = await stream(recipient, ["user", "user:notification", "user:pleroma_chat"], clients);

    const { message } = await postChatMessage(author, recipient, null, { media_id: mediaId });
    expect(message.attachment).toMatchObject({ id: mediaId });

    // Streamer.stream(["user", "user:notification"], notification)
    const isNotification = (name: string) => (f: Frame) => f.event === "notification" && f.stream?.[0] === name;
    for (const name of ["user", "user:notification"]) {
      const frame = await socket.next(isNotification(name), 5_000, `notification on ${name}`);
      expect(JSON.parse(frame.payload)).toMatchObject({ type: "pleroma:chat_mention", account: { id: author.account.id } });
    }
    // Streamer.stream(["user", "user:pleroma_chat"], _)
    for (const name of ["user", "user:pleroma_chat"]) {
      const frame = await socket.next((f) => f.event === "pleroma:chat_update" && f.stream?.[0] === name, 5_000, `chat update on ${name}`);
      expect(JSON.parse(frame.payload).last_message).toMatchObject({ account_id: author.account.id, attachment: { type: "image" } });
    }
  });

  test("it adds html newlines", async () => {
    const [author, recipient, otherUser] = [await account("author"), await account("recipient"), await account("other")];
    await postChatMessage(author, recipient, "uguu\nuguuu");
    expect((await as(otherUser).get("/api/v1/pleroma/chats")).body).toEqual([]);
    expect(await receivedContent(author, recipient)).toBe("uguu<br/>uguuu");
  });

  test("it linkifies", async () => {
    const [author, recipient, otherUser] = [await account("author"), await account("recipient"), await account("other")];
    const nickname = otherUser.account.username;
    await postChatMessage(author, recipient, `https://example.org is the site of @${nickname} #2hu`);

    // The mentioned user is not addressed: no chat, no notification.
    expect((await as(otherUser).get("/api/v1/pleroma/chats")).body).toEqual([]);
    expect((await as(otherUser).get("/api/v1/notifications?include_types[]=pleroma:chat_mention")).body).toEqual([]);
    const apId = `${parley.url}/users/${nickname}`;
    expect(await receivedContent(author, recipient)).toBe(
      `<a href="https://example.org" rel="ugc">https://example.org</a> is the site of ` +
        `<span class="h-card"><a class="u-url mention" data-user="${otherUser.account.id}" href="${apId}" rel="ugc">@<span>${nickname}</span></a></span> ` +
        `<a class="hashtag" data-tag="2hu" href="${parley.url}/tag/2hu">#2hu</a>`,
    );
  });

  test("it posts a chat message", async () => {
    const [author, recipient] = [await account("author"), await account("recipient")];
    await postChatMessage(author, recipient, "a test message <script>alert('uuu')</script> :firefox:");
    const chat = (await chatOf(recipient, author))!;
    const [message] = await messagesOf(recipient, chat.id);
    expect(message.account_id).toBe(author.account.id);
    expect(message.content).toBe("a test message &lt;script&gt;alert(&#39;uuu&#39;)&lt;/script&gt; :firefox:");
    expect(message.emojis).toEqual([expect.objectContaining({ shortcode: "firefox", url: expect.stringMatching(/^http/) })]);
    // Chat.get(author.id, recipient.ap_id) and Chat.get(recipient.id, author.ap_id)
    expect(await chatOf(author, recipient)).toBeDefined();
    expect(chat).toBeDefined();
  });

  test("it reject messages over the local limit", async () => {
    const [author, recipient] = [await account("author"), await account("recipient")];
    const chatId = await chatWith(author, recipient);
    // Pleroma's :chat_limit is set to 2 by the test; Parley's CHAT_MESSAGE_LIMIT is 5000 here.
    const response = await as(author).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "1".repeat(5001) });
    // compatibility.md, "local length limit": 422 content_too_long with the limit.
    expect(response.status).toBe(422);
    expect(response.body).toEqual({ error: "content_too_long", limit: 5000 });
  });

  test("it reject messages with attachments not belonging to user", async () => {
    const [author, notAuthor] = [await account("author"), await account("not_author")];
    const attachment = await uploadImage(notAuthor);
    const chatId = await chatWith(author, author);
    const response = await as(author).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "123", media_id: attachment });
    // compatibility.md, "`media_id` not found": 400 forbidden naming the field, like someone else's media.
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ error: "forbidden", field: "media_id" });
    expect(await messagesOf(author, chatId)).toEqual([]);
  });
});
