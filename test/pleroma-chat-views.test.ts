import { png, uploadEmoji } from "./helpers/media.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";
import { pleromaPort } from "./helpers/pleroma-port.js";
import { type RemoteServer, startRemoteServer } from "./helpers/remote.js";

/**
 * Pleroma's view and model tests of chats (kphrx/pleroma, develop), ported to HTTP: what
 * `ChatView`, `MessageReferenceView`, `NotificationView`, `Chat` and `MessageReference` produce is
 * read back through the API that renders them. Files:
 * test/pleroma/web/pleroma_api/views/chat_view_test.exs,
 * test/pleroma/web/pleroma_api/views/chat_message_reference_view_test.exs,
 * test/pleroma/chat_test.exs, test/pleroma/chat/message_reference_test.exs,
 * test/pleroma/web/mastodon_api/views/notification_view_test.exs ("ChatMessage notification"),
 * test/pleroma/web/mastodon_api/controllers/notification_controller_test.exs (its chat case).
 *
 * Not applicable over HTTP: none of these 12 cases (`Chat.bump_or_create` is what sending does,
 * `Chat.get_or_create` what `by-account-id` does, `Repo.delete(user)` the admin account deletion).
 */

let parley: TestParley;
let remote: RemoteServer;
const { account, as, admin, chatWith, send, postChatMessage, chatOf, messagesOf, uploadImage, deleteAccount, messageEventually } =
  pleromaPort(() => parley);

beforeAll(async () => {
  [parley, remote] = await Promise.all([startTestParley({ queue: "postgres" }), startRemoteServer()]);
  // Pleroma's test instance has a `firefox` custom emoji; Parley's comes from the admin API.
  expect((await uploadEmoji(parley.url, parley.adminToken, "firefox", png())).status).toBe(201);
  // Pleroma's HttpRequestMock answers https://example.com/ogp with an OpenGraph page (rich_media/ogp.html).
  remote.route("/ogp", (_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(
      `<!doctype html><html><head><title>The Rock (1996)</title>
<meta property="og:title" content="The Rock" /><meta property="og:type" content="video.movie" />
<meta property="og:url" content="${remote.url}/ogp" /><meta property="og:image" content="${remote.url}/rock.jpg" />
<meta property="og:description" content="Directed by Michael Bay. With Sean Connery, Nicolas Cage." />
</head><body>The Rock</body></html>`,
    );
  });
});
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close()]);
});

describe("Pleroma.Web.PleromaAPI.ChatViewTest", () => {
  test("it represents a chat", async () => {
    const [user, recipient] = [await account("user"), await account("recipient")];
    const chatId = await chatWith(user, recipient);
    const shown = await as(user).get(`/api/v1/pleroma/chats/${chatId}`);
    expect(shown.status).toBe(200);
    // AccountView.render("show.json", user: recipient): the account as the accounts API shows it.
    const recipientAccount = (await as(user).get(`/api/v1/accounts/${recipient.account.id}`)).body;
    expect(shown.body).toEqual({
      id: chatId,
      account: recipientAccount,
      unread: 0,
      last_message: null,
      updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      // Pleroma 2.10 renders `pinned` (chat_controller_test reads it from the list).
      pinned: false,
    });

    await send(user, chatId, "hello");
    const represented = (await as(user).get(`/api/v1/pleroma/chats/${chatId}`)).body;
    const [cmRef] = await messagesOf(user, chatId);
    expect(represented.last_message).toEqual(cmRef);
  });
});

describe("Pleroma.Web.PleromaAPI.ChatMessageReferenceViewTest", () => {
  test("it displays a chat message", async () => {
    const [user, recipient] = [await account("user"), await account("recipient")];
    const mediaId = await uploadImage(recipient);
    const chatId = await chatWith(user, recipient);
    const posted = await as(user).post(
      `/api/v1/pleroma/chats/${chatId}/messages`,
      { content: "kippis :firefox:" },
      { "idempotency-key": "123" },
    );
    expect(posted.status).toBe(200);
    const [chatMessage] = await messagesOf(user, chatId);
    expect(chatMessage.id).toBe(posted.body.id);
    expect(chatMessage.content).toBe("kippis :firefox:");
    expect(chatMessage.account_id).toBe(user.account.id);
    expect(chatMessage.chat_id).toBeTruthy();
    expect(chatMessage.created_at).toBeTruthy();
    expect(chatMessage.unread).toBe(false);
    expect(chatMessage.emojis).toEqual([expect.objectContaining({ shortcode: "firefox" })]);
    expect(chatMessage.idempotency_key).toBe("123");

    const { message: sent } = await postChatMessage(recipient, user, `gkgkgk ${remote.url}/ogp`, { media_id: mediaId });
    const [chatMessageTwo] = await messagesOf(user, chatId);
    expect(chatMessageTwo.content).toBe(sent.content);
    expect(chatMessageTwo.account_id).toBe(recipient.account.id);
    expect(chatMessageTwo.chat_id).toBe(chatMessage.chat_id);
    expect(chatMessageTwo.attachment).toBeTruthy();
    expect(chatMessageTwo.unread).toBe(true);
    // Pleroma runs the rich media job (ObanHelpers.perform_all) before rendering: the card is
    // fetched after the send, so it is awaited here.
    const withCard = await messageEventually(user, chatId, chatMessageTwo.id, (m) => m.card != null, "the link preview card");
    expect(withCard.card).toMatchObject({ title: "The Rock", url: `${remote.url}/ogp` });
  });
});

describe("creation and getting", () => {
  test("it only works if the recipient is a valid user (for now)", async () => {
    const user = await account("user");
    const response = await as(user).post(`/api/v1/pleroma/chats/by-account-id/${encodeURIComponent("http://some/nonexisting/account")}`);
    // compatibility.md, "chat or message not yours": 404 not_found, also for malformed ids.
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ error: "not_found" });
  });

  test("it creates a chat for a user and recipient", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const { chatId } = await postChatMessage(user, otherUser, "hi");
    expect(chatId).toEqual(expect.any(String));
  });

  test("deleting the user deletes the chat", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const { chatId } = await postChatMessage(user, otherUser, "hi");
    expect((await admin().get(`/api/v1/pleroma/admin/chats/${chatId}`)).status).toBe(200);
    await deleteAccount(user);
    expect((await admin().get(`/api/v1/pleroma/admin/chats/${chatId}`)).status).toBe(404);
  });

  test("deleting the recipient deletes the chat", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const { chatId } = await postChatMessage(user, otherUser, "hi");
    await deleteAccount(otherUser);
    expect((await as(user).get(`/api/v1/pleroma/chats/${chatId}`)).status).toBe(404);
  });

  test("it returns and bumps a chat for a user and recipient if it already exists", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const { chatId } = await postChatMessage(user, otherUser, "one");
    const { chatId: chatTwo } = await postChatMessage(user, otherUser, "two");
    expect(chatTwo).toBe(chatId);
  });

  test("it returns a chat for a user and recipient if it already exists", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    expect(await chatWith(user, otherUser)).toBe(await chatWith(user, otherUser));
  });

  test("a returning chat will have an updated `update_at` field", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    await postChatMessage(user, otherUser, "one");
    const chat = (await chatOf(user, otherUser))!;
    await new Promise((resolve) => setTimeout(resolve, 20));
    await postChatMessage(user, otherUser, "two");
    const chatTwo = (await chatOf(user, otherUser))!;
    expect(chatTwo.id).toBe(chat.id);
    expect(chatTwo.updated_at).not.toBe(chat.updated_at);
  });
});

describe("messages", () => {
  test("it returns the last message in a chat", async () => {
    const [user, recipient] = [await account("user"), await account("recipient")];
    await postChatMessage(user, recipient, "hey");
    await postChatMessage(recipient, user, "ho");
    expect((await chatOf(user, recipient))!.last_message.content).toBe("ho");
  });
});

describe("Pleroma.Web.MastodonAPI.NotificationViewTest", () => {
  test("ChatMessage notification", async () => {
    const [user, recipient] = [await account("user"), await account("recipient")];
    await postChatMessage(user, recipient, "what's up my dude");
    const notifications = await as(recipient).get("/api/v1/notifications?include_types[]=pleroma:chat_mention");
    expect(notifications.status).toBe(200);
    const [notification] = notifications.body;
    const chat = (await chatOf(recipient, user))!;
    const [cmRef] = await messagesOf(recipient, chat.id);
    const userAccount = (await as(recipient).get(`/api/v1/accounts/${user.account.id}`)).body;
    expect(notification).toEqual({
      id: expect.any(String),
      group_key: `ungrouped-${notification.id}`,
      pleroma: { is_seen: false, is_muted: false },
      type: "pleroma:chat_mention",
      account: userAccount,
      chat_message: cmRef,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
  });
});

describe("Pleroma.Web.MastodonAPI.NotificationControllerTest", () => {
  test("by default, does not contain pleroma:chat_mention", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    await postChatMessage(otherUser, user, "hey");
    const plain = await as(user).get("/api/v1/notifications");
    expect(plain.status).toBe(200);
    expect(plain.body).toEqual([]);
    const withChats = await as(user).get("/api/v1/notifications?include_types[]=pleroma:chat_mention");
    expect(withChats.status).toBe(200);
    expect(withChats.body).toHaveLength(1);
  });
});
