import { api, createAccount, type QueueKind, startTestParley, type TestParley } from "./helpers/parley.js";

/** Local delivery between two accounts of one instance, on both queue backends. */

type Account = Awaited<ReturnType<typeof createAccount>>;

describe.each<QueueKind>(["postgres", "redis"])("in-process delivery with the %s queue", (queue) => {
  let parley: TestParley;
  let alice: Account;
  let bob: Account;
  let carol: Account;
  const as = (who: Account) => api(parley.url, who.token);

  beforeAll(async () => {
    parley = await startTestParley({ queue });
    [alice, bob, carol] = await Promise.all(["alice", "bob", "carol"].map((name) => createAccount(parley, name)));
  });
  afterAll(() => parley.close());

  it("runs on the asked backend", async () => {
    const ready = await api(parley.url).get("/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body.queue).toEqual({ backend: queue, status: "ok" });
  });

  it("puts a sent message at the top of the recipient's chats, unread", async () => {
    // Bob already talks with carol: alice's chat must come above it.
    const carolChat = (await as(carol).post(`/api/v1/pleroma/chats/by-account-id/${bob.account.id}`)).body.id;
    expect((await as(carol).post(`/api/v1/pleroma/chats/${carolChat}/messages`, { content: "from carol" })).status).toBe(200);

    const aliceChat = (await as(alice).post(`/api/v1/pleroma/chats/by-account-id/${bob.account.id}`)).body.id;
    const sent = await as(alice).post(`/api/v1/pleroma/chats/${aliceChat}/messages`, { content: "hi bob" });
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ chat_id: aliceChat, account_id: alice.account.id, content: "hi bob", unread: false });

    const bobChats = (await as(bob).get("/api/v1/pleroma/chats")).body;
    expect(bobChats.map((c: any) => c.account.id)).toEqual([alice.account.id, carol.account.id]);
    expect(bobChats[0]).toMatchObject({
      unread: 1,
      account: { id: alice.account.id, acct: "alice" },
      last_message: { account_id: alice.account.id, content: "hi bob", unread: true, chat_id: bobChats[0].id },
    });
    expect((await as(bob).get("/api/v2/pleroma/chats?limit=1")).body.map((c: any) => c.id)).toEqual([bobChats[0].id]);
    const aliceView = (await as(alice).get(`/api/v1/pleroma/chats/${aliceChat}`)).body;
    expect(aliceView).toMatchObject({ unread: 0, last_message: { id: sent.body.id, unread: false } });
  });

  it("reads, replies and counts on both sides", async () => {
    const bobChat = (await as(bob).post(`/api/v1/pleroma/chats/by-account-id/${alice.account.id}`)).body.id;
    const aliceChat = (await as(alice).post(`/api/v1/pleroma/chats/by-account-id/${bob.account.id}`)).body.id;
    await as(alice).post(`/api/v1/pleroma/chats/${aliceChat}/messages`, { content: "second" });
    expect((await as(bob).get(`/api/v1/pleroma/chats/${bobChat}`)).body.unread).toBe(2);
    const read = await as(bob).post(`/api/v1/pleroma/chats/${bobChat}/read`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: bobChat, unread: 0 });

    const reply = await as(bob).post(`/api/v1/pleroma/chats/${bobChat}/messages`, new URLSearchParams({ content: "hello alice" }));
    expect(reply.status).toBe(200);
    const aliceChats = (await as(alice).get("/api/v1/pleroma/chats")).body;
    expect(aliceChats).toHaveLength(1);
    expect(aliceChats[0]).toMatchObject({ id: aliceChat, unread: 1, last_message: { content: "hello alice", account_id: bob.account.id } });
    const thread = (await as(alice).get(`/api/v1/pleroma/chats/${aliceChat}/messages`)).body;
    expect(thread.map((m: any) => [m.content, m.unread])).toEqual([
      ["hello alice", true],
      ["second", false],
      ["hi bob", false],
    ]);
    expect((await as(bob).get(`/api/v1/pleroma/chats/${bobChat}`)).body).toMatchObject({ unread: 0, last_message: { id: reply.body.id } });
  });

  it("keeps a self-chat to one reference and no unread", async () => {
    const selfChat = (await as(carol).post(`/api/v1/pleroma/chats/by-account-id/${carol.account.id}`)).body.id;
    await as(carol).post(`/api/v1/pleroma/chats/${selfChat}/messages`, { content: "memo" });
    const messages = (await as(carol).get(`/api/v1/pleroma/chats/${selfChat}/messages`)).body;
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ account_id: carol.account.id, content: "memo", unread: false });
    const chats = (await as(carol).get("/api/v1/pleroma/chats")).body;
    expect(chats[0]).toMatchObject({ id: selfChat, unread: 0, account: { id: carol.account.id } });
    const sql = parley.parley.deps.db.$client;
    const [{ refs }] = await sql`SELECT count(*)::int AS refs FROM message_refs WHERE chat_id = ${selfChat}`;
    expect(refs).toBe(1);
  });
});
