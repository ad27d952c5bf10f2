import { api, startTestParley, type TestParley } from "./helpers/parley.js";
import { pleromaPort } from "./helpers/pleroma-port.js";

/**
 * Pleroma's admin chat tests (kphrx/pleroma, develop), ported to HTTP, on Pleroma's own paths
 * (`/api/pleroma/admin/…`, the legacy spelling its tests use): test/pleroma/web/admin_api/
 * controllers/chat_controller_test.exs, and the `users/:nickname/chats` cases of
 * admin_api_controller_test.exs. Pleroma's admin is a user with `is_admin` and an admin OAuth
 * token; Parley's is ADMIN_TOKEN.
 *
 * Not applicable over HTTP (4 of 17 cases): the four "it requires privileged role
 * :messages_delete / :messages_read" cases toggle `[:instance, :admin_privileges]`; Parley has one
 * admin token with every privilege (a user token is covered by the "unauthorized" cases).
 */

let parley: TestParley;
const { account, as, chatWith, send, postChatMessage, chatOf, messagesOf } = pleromaPort(() => parley);
const admin = () => api(parley.url, parley.adminToken);
const anonymous = () => api(parley.url);

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
});
afterAll(() => parley?.close());

type Local = Awaited<ReturnType<typeof account>>;

/** `CommonAPI.post_chat_message(user, recipient, "Yo")`, the chat and the author's reference. */
async function yo(content = "Yo") {
  const [user, recipient] = [await account("user"), await account("recipient")];
  const { chatId, message } = await postChatMessage(user, recipient, content);
  return { user, recipient, chatId, cmRef: message };
}

describe("DELETE /api/pleroma/admin/chats/:id/messages/:message_id", () => {
  test("it deletes a message from the chat", async () => {
    const { user, recipient, chatId, cmRef } = await yo("Hello darkness my old friend");
    const recipientChat = (await chatOf(recipient, user))!;
    expect(await messagesOf(recipient, recipientChat.id)).toHaveLength(1);

    const result = await admin().delete(`/api/pleroma/admin/chats/${chatId}/messages/${cmRef.id}`);
    expect(result.status).toBe(200);
    // compatibility.md, "admin chat moderation": no moderation log entry yet (Pleroma writes
    // "@admin deleted chat message #id").
    expect(result.body.id).toBe(cmRef.id);
    expect(await messagesOf(user, chatId)).toEqual([]);
    expect(await messagesOf(recipient, recipientChat.id)).toEqual([]);
  });
});

describe("GET /api/pleroma/admin/chats/:id/messages", () => {
  test("it paginates", async () => {
    const [user, recipient] = [await account("user"), await account("recipient")];
    const chatId = await chatWith(user, recipient);
    for (let i = 0; i < 30; i++) await send(user, chatId, "hey");

    let result = await admin().get(`/api/pleroma/admin/chats/${chatId}/messages`);
    expect(result.status).toBe(200);
    expect(result.body).toHaveLength(20);
    result = await admin().get(`/api/pleroma/admin/chats/${chatId}/messages?max_id=${result.body.at(-1).id}`);
    expect(result.status).toBe(200);
    expect(result.body).toHaveLength(10);
  });

  test("it returns the messages for a given chat", async () => {
    const [user, otherUser, thirdUser] = [await account("user"), await account("other"), await account("third")];
    const { chatId } = await postChatMessage(user, otherUser, "hey");
    await postChatMessage(user, thirdUser, "hey");
    await postChatMessage(user, otherUser, "how are you?");
    await postChatMessage(otherUser, user, "fine, how about you?");

    const result = await admin().get(`/api/pleroma/admin/chats/${chatId}/messages`);
    expect(result.status).toBe(200);
    for (const message of result.body) expect(message.chat_id).toBe(chatId);
    expect(result.body).toHaveLength(3);
  });
});

describe("GET /api/pleroma/admin/chats/:id", () => {
  test("it returns a chat", async () => {
    const [user, otherUser] = [await account("user"), await account("other")];
    const chatId = await chatWith(user, otherUser);
    const result = await admin().get(`/api/pleroma/admin/chats/${chatId}`);
    expect(result.status).toBe(200);
    expect(result.body.id).toBe(chatId);
    expect(result.body.sender).toMatchObject({ id: user.account.id });
    expect(result.body.receiver).toMatchObject({ id: otherUser.account.id });
    expect(result.body.account).toBeUndefined();
  });
});

/**
 * The "unauthorized" (a user's token: 403) and "unauthenticated" (no token) describes. Pleroma
 * answers 403 to both; compatibility.md, "admin routes and tokens": no token is Parley's
 * `401 missing_token`.
 */
describe.each([
  ["unauthorized chat moderation", (who: Local) => as(who), 403, "forbidden"],
  ["unauthenticated chat moderation", (_who: Local) => anonymous(), 401, "missing_token"],
] as const)("%s", (_name, client, status, error) => {
  const refused = (response: { status: number; body: { error?: string } }) => {
    expect(response.status).toBe(status);
    expect(response.body.error).toBe(error);
  };

  test("DELETE /api/pleroma/admin/chats/:id/messages/:message_id", async () => {
    const { user, chatId, cmRef } = await yo();
    const stranger = await account("stranger");
    refused(await client(stranger).delete(`/api/pleroma/admin/chats/${chatId}/messages/${cmRef.id}`));
    expect((await messagesOf(user, chatId)).map((m) => m.id)).toEqual([cmRef.id]);
  });

  test("GET /api/pleroma/admin/chats/:id/messages", async () => {
    const { chatId } = await yo();
    const stranger = await account("stranger");
    refused(await client(stranger).get(`/api/pleroma/admin/chats/${chatId}/messages`));
  });

  test("GET /api/pleroma/admin/chats/:id", async () => {
    const { chatId } = await yo();
    const stranger = await account("stranger");
    refused(await client(stranger).get(`/api/pleroma/admin/chats/${chatId}`));
  });
});

describe("GET /api/pleroma/admin/users/:nickname/chats", () => {
  test("renders user's chats", async () => {
    const user = await account("user");
    for (let i = 0; i < 3; i++) await postChatMessage(user, await account("recipient"), "yo");
    const response = await admin().get(`/api/pleroma/admin/users/${user.account.username}/chats`);
    expect(response.status).toBe(200);
    expect(response.body).toHaveLength(3);
  });
});

describe("GET /api/pleroma/admin/users/:nickname/chats unauthorized", () => {
  test("returns 403", async () => {
    const { user } = await yo("yo");
    const stranger = await account("stranger");
    const response = await as(stranger).get(`/api/pleroma/admin/users/${user.account.username}/chats`);
    expect(response.status).toBe(403);
    expect(response.body.error).toBe("forbidden");
  });
});

describe("GET /api/pleroma/admin/users/:nickname/chats unauthenticated", () => {
  test("returns 403", async () => {
    const { user } = await yo("yo");
    const response = await anonymous().get(`/api/pleroma/admin/users/${user.account.username}/chats`);
    // compatibility.md, "admin routes and tokens": no token → 401 missing_token (Pleroma: 403).
    expect(response.status).toBe(401);
    expect(response.body.error).toBe("missing_token");
  });
});
