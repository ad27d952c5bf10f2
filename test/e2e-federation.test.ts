import { api, createAccount, type QueueKind, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Two Parley instances over loopback: lookups, a chat both ways, edits and deletes, on both queue
 * backends. Everything goes through the public API and real signed HTTP between the two.
 */

async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.each<QueueKind>(["postgres", "redis"])("two instances, queues on %s", (queue) => {
  let a: TestParley;
  let b: TestParley;
  let alice: Awaited<ReturnType<typeof createAccount>>;
  let bob: Awaited<ReturnType<typeof createAccount>>;

  beforeAll(async () => {
    [a, b] = await Promise.all([startTestParley({ queue }), startTestParley({ queue })]);
    [alice, bob] = await Promise.all([createAccount(a, "alice"), createAccount(b, "bob")]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it("alice finds bob by actor URL and by handle; a chat goes both ways; edits and deletes follow", async () => {
    const asAlice = api(a.url, alice.token);
    const asBob = api(b.url, bob.token);

    const byUrl = await asAlice.get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(`${b.url}/users/bob`)}`);
    expect(byUrl.status).toBe(200);
    const host = new URL(b.url).host;
    const byHandle = await asAlice.get(`/api/v1/accounts/lookup?acct=bob@${host}`);
    expect(byHandle.status).toBe(200);
    expect(byHandle.body).toMatchObject({ id: byUrl.body.id, acct: `bob@${host}`, pleroma: { accepts_chat_messages: true } });

    const chat = await asAlice.post(`/api/v1/pleroma/chats/by-account-id/${byUrl.body.id}`);
    expect(chat.status).toBe(200);
    const sent = await asAlice.post(`/api/v1/pleroma/chats/${chat.body.id}/messages`, { content: "Hello from A" });
    expect(sent.status).toBe(200);
    expect(sent.body.parley).toEqual({ delivery: expect.stringMatching(/pending|delivered/) });

    const bobChat = await eventually(async () => {
      const list = await asBob.get("/api/v1/pleroma/chats");
      return list.body.length === 1 ? list.body[0] : undefined;
    }, "bob's chat");
    expect(bobChat).toMatchObject({
      unread: 1,
      account: { acct: `alice@${new URL(a.url).host}` },
      last_message: { content: "Hello from A" },
    });
    await eventually(async () => {
      const shown = await asAlice.get(`/api/v1/pleroma/chats/${chat.body.id}/messages`);
      return shown.body[0]?.parley?.delivery === "delivered" ? true : undefined;
    }, "delivered state on alice's side");

    const reply = await asBob.post(`/api/v1/pleroma/chats/${bobChat.id}/messages`, { content: "Hi alice" });
    expect(reply.status).toBe(200);
    const aliceSees = await eventually(async () => {
      const shown = await asAlice.get(`/api/v1/pleroma/chats/${chat.body.id}/messages`);
      return shown.body.length === 2 ? shown.body : undefined;
    }, "bob's reply on A");
    expect(aliceSees[0]).toMatchObject({ content: "Hi alice", unread: true });

    const edited = await asAlice.put(`/api/v1/pleroma/chats/${chat.body.id}/messages/${sent.body.id}`, {
      content: "Hello from A (edited)",
    });
    expect(edited.status).toBe(200);
    await eventually(async () => {
      const shown = await asBob.get(`/api/v1/pleroma/chats/${bobChat.id}/messages`);
      const original = shown.body.find((m: { account_id: string }) => m.account_id !== bob.account.id);
      return original?.content === "Hello from A (edited)" && original.edited_at ? true : undefined;
    }, "the edit on B");

    const deleted = await asAlice.delete(`/api/v1/pleroma/chats/${chat.body.id}/messages/${sent.body.id}`);
    expect(deleted.status).toBe(200);
    await eventually(async () => {
      const shown = await asBob.get(`/api/v1/pleroma/chats/${bobChat.id}/messages`);
      return shown.body.length === 1 ? true : undefined;
    }, "the delete on B");
    const afterDelete = await asBob.get(`/api/v1/pleroma/chats/${bobChat.id}`);
    expect(afterDelete.body).toMatchObject({ unread: 0, last_message: { content: "Hi alice" } });
  });
});
