import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

let parley: TestParley;
let alice: Awaited<ReturnType<typeof createAccount>>;
let bob: Awaited<ReturnType<typeof createAccount>>;
let bobChatId: string;
let messageId: string;

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
  alice = await createAccount(parley, "alice");
  bob = await createAccount(parley, "bob");
  const chat = await api(parley.url, alice.token).post(`/api/v1/pleroma/chats/by-account-id/${bob.account.id}`);
  await api(parley.url, alice.token).post(`/api/v1/pleroma/chats/${chat.body.id}/messages`, { content: "first" });
  await api(parley.url, alice.token).post(`/api/v1/pleroma/chats/${chat.body.id}/messages`, { content: "second" });
  const bobChats = await api(parley.url, bob.token).get("/api/v1/pleroma/chats");
  bobChatId = bobChats.body[0].id;
  messageId = bobChats.body[0].last_message.id;
});
afterAll(() => parley.close());

describe("Pleroma admin chat moderation", () => {
  it("shows any chat with sender and receiver", async () => {
    const response = await api(parley.url, parley.adminToken).get(`/api/v1/pleroma/admin/chats/${bobChatId}`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: bobChatId, unread: 2, sender: { id: bob.account.id }, receiver: { id: alice.account.id } });
    expect(response.body.account).toBeUndefined();
    expect(response.body.last_message.content).toBe("second");
  });

  it("lists any chat's messages, newest first", async () => {
    const response = await api(parley.url, parley.adminToken).get(`/api/v1/pleroma/admin/chats/${bobChatId}/messages`);
    expect(response.status).toBe(200);
    expect(response.body.map((m: { content: string }) => m.content)).toEqual(["second", "first"]);
  });

  it("deletes a message for both participants, fixing counters", async () => {
    const response = await api(parley.url, parley.adminToken).delete(`/api/v1/pleroma/admin/chats/${bobChatId}/messages/${messageId}`);
    expect(response.status).toBe(200);
    expect(response.body.content).toBe("second");
    const bobChat = await api(parley.url, bob.token).get(`/api/v1/pleroma/chats/${bobChatId}`);
    expect(bobChat.body).toMatchObject({ unread: 1, last_message: { content: "first" } });
    const aliceChats = await api(parley.url, alice.token).get("/api/v1/pleroma/chats");
    expect(aliceChats.body[0].last_message.content).toBe("first");
    const [tombstone] = await parley.parley.deps.db.$client`SELECT content, deleted_at FROM messages WHERE deleted_at IS NOT NULL`;
    expect(tombstone).toMatchObject({ content: null, deleted_at: expect.any(String) });
  });

  it("answers 404 for unknown chats and messages, 403 to a user's token", async () => {
    const admin = api(parley.url, parley.adminToken);
    expect((await admin.get("/api/v1/pleroma/admin/chats/01jzzzzzzzzzzzzzzzzzzzzzzz")).status).toBe(404);
    expect((await admin.get("/api/v1/pleroma/admin/chats/bad-id/messages")).status).toBe(404);
    expect((await admin.delete(`/api/v1/pleroma/admin/chats/${bobChatId}/messages/${messageId}`)).status).toBe(404);
    expect((await api(parley.url, bob.token).get(`/api/v1/pleroma/admin/chats/${bobChatId}`)).status).toBe(403);
  });
});

describe("notifications of local messages", () => {
  it("creates a pleroma:chat_mention for the recipient, born seen when the sender is muted", async () => {
    const carol = await createAccount(parley, "carol");
    await api(parley.url, carol.token).post(`/api/v1/accounts/${alice.account.id}/mute`);
    const chat = await api(parley.url, alice.token).post(`/api/v1/pleroma/chats/by-account-id/${carol.account.id}`);
    await api(parley.url, alice.token).post(`/api/v1/pleroma/chats/${chat.body.id}/messages`, { content: "muted hello" });
    const rows = await parley.parley.deps.db.$client`
      SELECT account_id, from_account_id, type, seen FROM notifications WHERE account_id IN (${carol.account.id}, ${alice.account.id})`;
    expect(rows).toEqual([{ account_id: carol.account.id, from_account_id: alice.account.id, type: "pleroma:chat_mention", seen: true }]);
    const [bobs] = await parley.parley.deps.db
      .$client`SELECT count(*)::int AS n, bool_and(NOT seen) AS unseen FROM notifications WHERE account_id = ${bob.account.id}`;
    // One of the two was deleted by the moderator above: its notification went with it.
    expect(bobs).toEqual({ n: 1, unseen: true });
  });
});
