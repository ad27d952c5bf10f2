import { linksOf } from "./helpers/link-header.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";
import { pleromaPort } from "./helpers/pleroma-port.js";
import { type RemoteServer, startRemoteServer } from "./helpers/remote.js";

/**
 * Pleroma's test/pleroma/web/pleroma_api/controllers/chat_controller_test.exs (kphrx/pleroma,
 * develop, with the 2.10 pin/unpin cases), ported to HTTP against a Parley instance: one `test` per
 * Pleroma case, named as in Pleroma, in Pleroma's `describe`. Pleroma's internal set-up calls
 * (`insert(:user)`, `CommonAPI.post_chat_message`, `Chat.pin`, `User.block`, `Repo.delete`) are done
 * through the API (test/helpers/pleroma-port.ts).
 *
 * Not applicable over HTTP (3 of 29 cases):
 * - "gets MRF reason when rejected": needs Pleroma's MRF KeywordPolicy configured; Parley has no MRF.
 * - "it returns 404 when chats are disabled" (×2, v1 and v2): toggles `[Pleroma.Chat, :enabled]`;
 *   Parley is a chat service, chats cannot be turned off.
 */

let parley: TestParley;
let remote: RemoteServer;
const { account, as, chatWith, send, postChatMessage, messagesOf, uploadImage, deleteAccount } = pleromaPort(() => parley);

beforeAll(async () => {
  [parley, remote] = await Promise.all([startTestParley({ queue: "postgres" }), startRemoteServer()]);
});
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close()]);
});

describe("POST /api/v1/pleroma/chats/:id/messages/:message_id/read", () => {
  test("it marks one message as read", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    await postChatMessage(otherUser, user, "sup");
    await postChatMessage(otherUser, user, "sup part 2");
    const chatId = await chatWith(user, otherUser);
    // The user's own reference to the message (`MessageReference.for_chat_and_object`).
    const first = (await messagesOf(user, chatId)).find((m) => m.content === "sup")!;
    expect(first.unread).toBe(true);

    const result = await as(user).post(`/api/v1/pleroma/chats/${chatId}/messages/${first.id}/read`);
    expect(result.status).toBe(200);
    expect(result.body.unread).toBe(false);
    expect((await messagesOf(user, chatId)).find((m) => m.id === first.id)!.unread).toBe(false);
  });
});

describe("POST /api/v1/pleroma/chats/:id/read", () => {
  test("given a `last_read_id`, it marks everything until then as read", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    await postChatMessage(otherUser, user, "sup");
    await postChatMessage(otherUser, user, "sup part 2");
    const chatId = await chatWith(user, otherUser);
    const first = (await messagesOf(user, chatId)).find((m) => m.content === "sup")!;
    expect(first.unread).toBe(true);

    const result = await as(user).post(`/api/v1/pleroma/chats/${chatId}/read`, { last_read_id: first.id });
    expect(result.status).toBe(200);
    expect(result.body.unread).toBe(1);
    expect((await messagesOf(user, chatId)).find((m) => m.id === first.id)!.unread).toBe(false);
  });
});

describe("POST /api/v1/pleroma/chats/:id/messages", () => {
  test("it posts a message to the chat", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const chatId = await chatWith(user, otherUser);
    const result = await as(user).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "Hallo!!" }, { "idempotency-key": "123" });
    expect(result.status).toBe(200);
    expect(result.body.content).toBe("Hallo!!");
    expect(result.body.chat_id).toBe(chatId);
    expect(result.body.idempotency_key).toBe("123");
  });

  test("it fails if there is no content", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const chatId = await chatWith(user, otherUser);
    const result = await as(user).post(`/api/v1/pleroma/chats/${chatId}/messages`, {});
    expect(result.status).toBe(400);
    expect(result.body).toEqual({ error: "no_content" });
  });

  test("it works with an attachment", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const mediaId = await uploadImage(user);
    const chatId = await chatWith(user, otherUser);
    const result = await as(user).post(`/api/v1/pleroma/chats/${chatId}/messages`, { media_id: mediaId });
    expect(result.status).toBe(200);
    expect(result.body.attachment).toMatchObject({ id: mediaId, type: "image" });
  });
});

describe("DELETE /api/v1/pleroma/chats/:id/messages/:message_id", () => {
  test("it deletes a message from the chat", async () => {
    const [user, recipient] = [await account("user"), await account("recipient")];
    const { chatId, message } = await postChatMessage(user, recipient, "Hello darkness my old friend");
    const { chatId: recipientChatId, message: authorsRef } = await postChatMessage(recipient, user, "nico nico ni");
    const otherMessage = (await messagesOf(user, chatId)).find((m) => m.content === "nico nico ni")!;

    // Deleting your own message removes the message and the reference (Pleroma: a Tombstone, so
    // the recipient loses it too).
    let result = await as(user).delete(`/api/v1/pleroma/chats/${chatId}/messages/${message.id}`);
    expect(result.status).toBe(200);
    expect(result.body.id).toBe(message.id);
    expect((await messagesOf(user, chatId)).map((m) => m.content)).toEqual(["nico nico ni"]);
    expect((await messagesOf(recipient, recipientChatId)).map((m) => m.content)).toEqual(["nico nico ni"]);

    // Deleting other people's messages just removes the reference: the object stays for its author.
    result = await as(user).delete(`/api/v1/pleroma/chats/${chatId}/messages/${otherMessage.id}`);
    expect(result.status).toBe(200);
    expect(result.body.id).toBe(otherMessage.id);
    expect(await messagesOf(user, chatId)).toEqual([]);
    expect((await messagesOf(recipient, recipientChatId)).map((m) => m.id)).toEqual([authorsRef.id]);
  });
});

describe("GET /api/v1/pleroma/chats/:id/messages", () => {
  const linkParts = (header: string | null): Record<string, URL> =>
    Object.fromEntries(Object.entries(linksOf(header)).map(([rel, href]) => [rel, new URL(href)]));

  test("it paginates", async () => {
    const [user, recipient] = [await account("user"), await account("recipient")];
    const chatId = await chatWith(user, recipient);
    for (let i = 0; i < 30; i++) await send(user, chatId, "hey");
    const apiEndpoint = `${parley.url}/api/v1/pleroma/chats/`;

    let response = await as(user).get(`/api/v1/pleroma/chats/${chatId}/messages`);
    expect(response.status).toBe(200);
    let links = linkParts(response.headers.get("link"));
    expect(links.next.href.startsWith(apiEndpoint)).toBe(true);
    expect(links.next.pathname).toMatch(/\/messages$/);
    expect(links.next.searchParams.get("limit")).toMatch(/^\d+$/);
    expect(links.next.searchParams.get("max_id")).toBeTruthy();
    expect(links.prev.href.startsWith(apiEndpoint)).toBe(true);
    expect(links.prev.searchParams.get("limit")).toMatch(/^\d+$/);
    expect(links.prev.searchParams.get("min_id")).toBeTruthy();
    // compatibility.md, "`Link` prev on page ≥ 2": no `offset` in Parley's links.
    expect(response.body).toHaveLength(20);

    response = await as(user).get(`${apiEndpoint}${chatId}/messages?max_id=${response.body.at(-1).id}`);
    expect(response.status).toBe(200);
    links = linkParts(response.headers.get("link"));
    expect(links.next.searchParams.get("max_id")).toBeTruthy();
    expect(links.prev.searchParams.get("min_id")).toBeTruthy();
    // compatibility.md, "`Link` prev on page ≥ 2": Pleroma's prev keeps the request's max_id
    // (an empty page); Parley's prev drops it and works.
    expect(links.prev.searchParams.get("max_id")).toBeNull();
    expect(response.body).toHaveLength(10);
  });

  test("it returns the messages for a given chat", async () => {
    const [user, otherUser, thirdUser] = [await account("user"), await account("other"), await account("third")];
    const { chatId } = await postChatMessage(user, otherUser, "hey");
    await postChatMessage(user, thirdUser, "hey");
    await postChatMessage(user, otherUser, "how are you?");
    const { chatId: otherUserChatId } = await postChatMessage(otherUser, user, "fine, how about you?");

    const result = await messagesOf(user, chatId);
    for (const message of result) expect(message.chat_id).toBe(chatId);
    expect(result).toHaveLength(3);

    // Trying to get the chat of a different user
    const response = await as(user).get(`/api/v1/pleroma/chats/${otherUserChatId}/messages`);
    expect(response.status).toBe(404);
  });
});

describe("POST /api/v1/pleroma/chats/by-account-id/:id", () => {
  test("it creates or returns a chat", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const result = await as(user).post(`/api/v1/pleroma/chats/by-account-id/${otherUser.account.id}`);
    expect(result.status).toBe(200);
    expect(result.body.id).toEqual(expect.any(String));
  });
});

describe("GET /api/v1/pleroma/chats/:id", () => {
  test("it returns a chat", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const chatId = await chatWith(user, otherUser);
    const result = await as(user).get(`/api/v1/pleroma/chats/${chatId}`);
    expect(result.status).toBe(200);
    expect(result.body.id).toBe(chatId);
  });
});

describe("POST /api/v1/pleroma/chats/:id/pin", () => {
  test("it pins a chat", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const chatId = await chatWith(user, otherUser);
    const result = await as(user).post(`/api/v1/pleroma/chats/${chatId}/pin`);
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ id: chatId, pinned: true });
  });
});

describe("POST /api/v1/pleroma/chats/:id/unpin", () => {
  test("it unpins a chat", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const chatId = await chatWith(user, otherUser);
    expect((await as(user).post(`/api/v1/pleroma/chats/${chatId}/pin`)).status).toBe(200);
    const result = await as(user).post(`/api/v1/pleroma/chats/${chatId}/unpin`);
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ id: chatId, pinned: false });
  });
});

describe.each(["/api/v1/pleroma/chats", "/api/v2/pleroma/chats"])("GET %s", (testedEndpoint) => {
  const list = async (user: Awaited<ReturnType<typeof account>>, query = "") => {
    const response = await as(user).get(`${testedEndpoint}${query}`);
    expect(response.status).toBe(200);
    return response.body as { id: string; pinned?: boolean; account: { id: string } }[];
  };

  test("it does not return chats with deleted users", async () => {
    const [user, recipient] = [await account("user"), await account("recipient")];
    await chatWith(user, recipient);
    await deleteAccount(recipient);
    expect(await list(user)).toHaveLength(0);
  });

  test("it does not return chats with users you blocked", async () => {
    const [user, recipient] = [await account("user"), await account("recipient")];
    await chatWith(user, recipient);
    expect(await list(user)).toHaveLength(1);
    expect((await as(user).post(`/api/v1/accounts/${recipient.account.id}/block`)).status).toBe(200);
    expect(await list(user)).toHaveLength(0);
  });

  test("it does not return chats with users you muted", async () => {
    const [user, recipient] = [await account("user"), await account("recipient")];
    await chatWith(user, recipient);
    expect(await list(user)).toHaveLength(1);
    expect((await as(user).post(`/api/v1/accounts/${recipient.account.id}/mute`)).status).toBe(200);
    expect(await list(user)).toHaveLength(0);
    expect(await list(user, "?with_muted=true")).toHaveLength(1);
  });

  test("it only returns pinned chats", async () => {
    const [user, recipient1, recipient2] = [await account("user"), await account("r1"), await account("r2")];
    const id = await chatWith(user, recipient1);
    await chatWith(user, recipient2);
    expect((await as(user).post(`/api/v1/pleroma/chats/${id}/pin`)).status).toBe(200);
    const result = await list(user, "?pinned=true");
    expect(result.map((chat) => [chat.id, chat.pinned])).toEqual([[id, true]]);
  });

  if (testedEndpoint === "/api/v1/pleroma/chats") {
    test("it returns all chats", async () => {
      const user = await account("user");
      for (let i = 0; i < 30; i++) await chatWith(user, await account("recipient"));
      expect(await list(user)).toHaveLength(30);
    });
  } else {
    test("it paginates chats", async () => {
      const user = await account("user");
      for (let i = 0; i < 30; i++) await chatWith(user, await account("recipient"));
      const result = await list(user);
      expect(result).toHaveLength(20);
      expect(await list(user, `?max_id=${result.at(-1)!.id}`)).toHaveLength(10);
    });
  }

  test("it return a list of chats the current user is participating in, in descending order of updates", async () => {
    const [user, har, jafnhar, tridi] = [await account("user"), await account("har"), await account("jafnhar"), await account("tridi")];
    // Pleroma moves updated_at back with time_travel; here the chats are simply opened in order.
    const chat1 = await chatWith(user, har);
    const chat2 = await chatWith(user, jafnhar);
    const chat3 = await chatWith(user, tridi);
    // bump the second one (Chat.bump_or_create is what posting a message does)
    await send(user, chat2, "bump");
    expect((await list(user)).map((chat) => chat.id)).toEqual([chat2, chat3, chat1]);
  });

  test("it is not affected by :restrict_unauthenticated setting (issue #1973)", async () => {
    // Parley has no :restrict_unauthenticated setting; the case's assertion still applies: chats
    // with a local and with a remote account both show their account.
    const [user, user2] = [await account("user"), await account("user2")];
    const remoteUser = remote.actor(`user3_${testedEndpoint.includes("v2") ? "v2" : "v1"}`);
    const found = await as(user).get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(remoteUser.id)}`);
    expect(found.status).toBe(200);
    await chatWith(user, user2);
    expect((await as(user).post(`/api/v1/pleroma/chats/by-account-id/${found.body.id}`)).status).toBe(200);

    const accountIds = (await list(user)).map((chat) => chat.account.id);
    expect(accountIds.sort()).toEqual([user2.account.id, found.body.id].sort());
  });
});
