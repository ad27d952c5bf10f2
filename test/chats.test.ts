import { type Account, chatHelpers } from "./helpers/chats.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/** Chat API: shapes, get-or-create, lists, compose, refusals and authorization. */

const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const CHAT_KEYS = ["account", "id", "last_message", "pinned", "unread", "updated_at"];
const MESSAGE_KEYS = ["account_id", "attachment", "card", "chat_id", "content", "created_at", "emojis", "id", "unread"];

function expectChat(chat: any, counterpart: Account, extra: { unread?: number } = {}) {
  expect(Object.keys(chat).sort()).toEqual(CHAT_KEYS);
  expect(chat).toMatchObject({
    id: expect.any(String),
    unread: extra.unread ?? expect.any(Number),
    updated_at: expect.stringMatching(ISO_DATE),
    account: {
      id: counterpart.account.id,
      username: counterpart.account.username,
      acct: counterpart.account.acct,
      pleroma: { accepts_chat_messages: expect.any(Boolean), is_local: true },
    },
  });
}

function expectMessage(message: any, fields: Record<string, unknown>, extraKeys: string[] = []) {
  expect(Object.keys(message).sort()).toEqual([...MESSAGE_KEYS, ...extraKeys].sort());
  expect(message).toMatchObject({
    id: expect.any(String),
    created_at: expect.stringMatching(ISO_DATE),
    emojis: [],
    attachment: null,
    card: null,
    ...fields,
  });
}

let parley: TestParley;
const { account, as, chatWith, send } = chatHelpers(() => parley);

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
});
afterAll(() => parley.close());

describe("get or create", () => {
  it("creates an empty chat once and answers the same chat again", async () => {
    const [alice, bob] = [await account("alice"), await account("bob")];
    const first = await as(alice).post(`/api/v1/pleroma/chats/by-account-id/${bob.account.id}`);
    expect(first.status).toBe(200);
    expectChat(first.body, bob, { unread: 0 });
    expect(first.body.last_message).toBeNull();
    expect(first.body.account.pleroma.accepts_chat_messages).toBe(true);
    const second = await as(alice).post(`/api/v1/pleroma/chats/by-account-id/${bob.account.id}`);
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    const shown = await as(alice).get(`/api/v1/pleroma/chats/${first.body.id}`);
    expect(shown.status).toBe(200);
    expect(shown.body).toEqual(first.body);
    // API bodies are not hashed for an ETag (media files keep theirs: media.test.ts).
    expect(shown.headers.get("etag")).toBeNull();
    // Opening does not create the counterpart's chat: bob has nothing yet.
    expect((await as(bob).get("/api/v1/pleroma/chats")).body).toEqual([]);
  });

  it.each(["01jzzzzzzzzzzzzzzzzzzzzzzz", "nope", "'; drop table chats; --", "01JZZZZZZZZZZZZZZZZZZZZZZZ", "x".repeat(500)])(
    "answers 404 for account id %j",
    async (id) => {
      const alice = await account("alice");
      const response = await as(alice).post(`/api/v1/pleroma/chats/by-account-id/${encodeURIComponent(id)}`);
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ error: "not_found" });
    },
  );

  it("allows a chat with yourself: one reference, never unread", async () => {
    const alice = await account("self");
    const chatId = await chatWith(alice, alice);
    const message = await send(alice, chatId, "note to self");
    expect(message).toMatchObject({ chat_id: chatId, account_id: alice.account.id, unread: false });
    const messages = await as(alice).get(`/api/v1/pleroma/chats/${chatId}/messages`);
    expect(messages.body.map((m: any) => m.id)).toEqual([message.id]);
    const chats = (await as(alice).get("/api/v1/pleroma/chats")).body;
    expect(chats).toHaveLength(1);
    expectChat(chats[0], alice, { unread: 0 });
    expect(chats[0].last_message.id).toBe(message.id);
  });
});

describe("shapes", () => {
  it("renders Chat and ChatMessage for both sides", async () => {
    const [alice, bob] = [await account("alice"), await account("bob")];
    const chatId = await chatWith(alice, bob);
    const sent = await send(alice, chatId, "hello bob");
    expectMessage(sent, { chat_id: chatId, account_id: alice.account.id, content: "hello bob", unread: false });

    const [aliceChat] = (await as(alice).get("/api/v1/pleroma/chats")).body;
    expectChat(aliceChat, bob, { unread: 0 });
    expect(aliceChat.last_message).toEqual(sent);

    const [bobChat] = (await as(bob).get("/api/v1/pleroma/chats")).body;
    expectChat(bobChat, alice, { unread: 1 });
    expect(bobChat.id).not.toBe(chatId);
    expectMessage(bobChat.last_message, { chat_id: bobChat.id, account_id: alice.account.id, content: "hello bob", unread: true });
    // Each participant has their own reference to the one message.
    expect(bobChat.last_message.id).not.toBe(sent.id);
    expect(bobChat.last_message.created_at).toBe(sent.created_at);
    expect(await chatWith(bob, alice)).toBe(bobChat.id);
  });
});

describe("compose", () => {
  let alice: Account;
  let chatId: string;
  beforeAll(async () => {
    alice = await account("compose");
    chatId = await chatWith(alice, await account("reader"));
  });

  it("escapes HTML, links URLs with rel=ugc, turns newlines into <br/>, keeps :shortcode:", async () => {
    const message = await send(alice, chatId, `<script>alert("x")</script> & see https://example.com/a?b=1&c=2\nbye :blobcat:`);
    expect(message.content).toBe(
      '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; see <a href="https://example.com/a?b=1&amp;c=2" rel="ugc">https://example.com/a?b=1&amp;c=2</a><br/>bye :blobcat:',
    );
    expect(message.content).not.toContain("<script");
    expect(message.emojis).toEqual([]);
  });

  it("lists the local custom emoji a message names, and only those", async () => {
    const sql = parley.parley.deps.db.$client;
    await sql`INSERT INTO custom_emojis (id, shortcode, domain, url, static_url)
      VALUES ('01jemoji000000000000000001', 'parrot', NULL, 'https://cdn.example/parrot.gif', 'https://cdn.example/parrot.png'),
             ('01jemoji000000000000000002', 'remote', 'other.example', 'https://other.example/r.png', 'https://other.example/r.png')`;
    const message = await send(alice, chatId, ":parrot: :parrot: :remote: :unknown:");
    expect(message.content).toBe(":parrot: :parrot: :remote: :unknown:");
    expect(message.emojis).toEqual([
      {
        shortcode: "parrot",
        url: "https://cdn.example/parrot.gif",
        static_url: "https://cdn.example/parrot.png",
        visible_in_picker: false,
      },
    ]);
  });

  it("does not link other schemes and keeps CRLF as one break", async () => {
    const message = await send(alice, chatId, "javascript:alert(1)\r\nftp://example.com");
    expect(message.content).not.toContain("<a");
    expect(message.content).toBe("javascript:alert(1)<br/>ftp://example.com");
  });
});

describe("refusals", () => {
  it.each([{}, { content: "" }, { content: "   \n\t " }, { content: null }, { media_id: "" }])(
    "answers 400 no_content for %j",
    async (body) => {
      const alice = await account("empty");
      const chatId = await chatWith(alice, await account("bob"));
      const response = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, body);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ error: "no_content" });
      expect((await as(alice).get(`/api/v1/pleroma/chats/${chatId}/messages`)).body).toEqual([]);
    },
  );

  it("enforces CHAT_MESSAGE_LIMIT (5000 characters, counted as code points)", async () => {
    const alice = await account("long");
    const chatId = await chatWith(alice, await account("bob"));
    const tooLong = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "a".repeat(5001) });
    expect(tooLong.status).toBe(422);
    expect(tooLong.body).toMatchObject({ error: "content_too_long" });
    expect((await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "a".repeat(5000) })).status).toBe(200);
    expect((await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "😀".repeat(5000) })).status).toBe(200);
    expect((await as(alice).get(`/api/v1/pleroma/chats/${chatId}/messages`)).body).toHaveLength(2);
  });

  it("refuses a recipient who does not accept chats, until they do again", async () => {
    const [alice, bob] = [await account("alice"), await account("shy")];
    const chatId = await chatWith(alice, bob);
    const off = await as(bob).patch("/api/v1/accounts/update_credentials", { accepts_chat_messages: false });
    expect(off.body.pleroma.accepts_chat_messages).toBe(false);
    expect((await as(alice).get(`/api/v1/pleroma/chats/${chatId}`)).body.account.pleroma.accepts_chat_messages).toBe(false);
    const refused = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "hi" });
    expect(refused.status).toBe(422);
    expect(refused.body).toEqual({ error: "recipient_does_not_accept_chats" });
    expect((await as(bob).get("/api/v1/pleroma/chats")).body).toEqual([]);
    await as(bob).patch("/api/v1/accounts/update_credentials", { accepts_chat_messages: true });
    expect((await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "hi" })).status).toBe(200);
  });

  it("refuses with 422 blocked when the recipient blocks the sender, or the sender the recipient", async () => {
    const [alice, bob] = [await account("alice"), await account("blocker")];
    const chatId = await chatWith(alice, bob);
    expect((await as(bob).post(`/api/v1/accounts/${alice.account.id}/block`)).body.blocking).toBe(true);
    const refused = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "hi" });
    expect(refused.status).toBe(422);
    expect(refused.body).toEqual({ error: "blocked" });
    expect((await as(bob).get("/api/v1/pleroma/chats")).body).toEqual([]);

    const bobChat = await chatWith(bob, alice);
    const own = await as(bob).post(`/api/v1/pleroma/chats/${bobChat}/messages`, { content: "hi" });
    expect(own.status).toBe(422);
    expect(own.body).toEqual({ error: "blocked" });

    await as(bob).post(`/api/v1/accounts/${alice.account.id}/unblock`);
    expect((await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "hi" })).status).toBe(200);
  });

  it("refuses an unknown media_id or another account's media with 400 forbidden", async () => {
    const [alice, bob] = [await account("media"), await account("bob")];
    const chatId = await chatWith(alice, bob);
    const unknown = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, {
      content: "pic",
      media_id: "01jzzzzzzzzzzzzzzzzzzzzzzz",
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toEqual({ error: "forbidden", field: "media_id" });

    const sql = parley.parley.deps.db.$client;
    await sql`INSERT INTO media (id, account_id, path, content_type, size) VALUES ('01jmedia0000000000000000bb', ${bob.account.id}, 'b.png', 'image/png', 1)`;
    await sql`INSERT INTO media (id, account_id, path, content_type, size) VALUES ('01jmedia0000000000000000aa', ${alice.account.id}, 'a.png', 'image/png', 1)`;
    const foreign = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, { media_id: "01jmedia0000000000000000bb" });
    expect(foreign.status).toBe(400);
    expect(foreign.body).toEqual({ error: "forbidden", field: "media_id" });
    expect((await as(alice).get(`/api/v1/pleroma/chats/${chatId}/messages`)).body).toEqual([]);

    const own = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, { media_id: "01jmedia0000000000000000aa" });
    expect(own.status).toBe(200);
    expect(own.body.content).toBeNull();
    expect(own.body.attachment).toMatchObject({ id: "01jmedia0000000000000000aa", type: "image", url: `${parley.url}/media/a.png` });
  });

  it("names the field of a malformed body", async () => {
    const alice = await account("bad");
    const chatId = await chatWith(alice, await account("bob"));
    const response = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: 42 });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: "invalid_request", field: "content" });
  });

  it("refuses NUL characters (which PostgreSQL cannot store) with 400 or 404, never 500", async () => {
    const alice = await account("nul");
    const chatId = await chatWith(alice, await account("bob"));
    const content = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "a\u0000b" });
    expect(content.status).toBe(400);
    expect(content.body).toMatchObject({ error: "invalid_request", field: "content" });
    const form = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, new URLSearchParams({ content: "a\u0000b" }));
    expect(form.body).toMatchObject({ error: "invalid_request", field: "content" });
    for (const query of ["max_id", "min_id", "since_id"]) {
      for (const path of [`/api/v1/pleroma/chats/${chatId}/messages`, "/api/v2/pleroma/chats"]) {
        const response = await as(alice).get(`${path}?${query}=%00`);
        expect([path, response.status, response.body.field]).toEqual([path, 400, query]);
      }
    }
    expect((await as(alice).post(`/api/v1/pleroma/chats/${chatId}/read`, { last_read_id: "\u0000" })).status).toBe(400);
    expect((await as(alice).get("/api/v1/pleroma/chats/%00")).status).toBe(404);
    expect((await as(alice).post("/api/v1/pleroma/chats/by-account-id/%00")).status).toBe(404);
    expect((await as(alice).get(`/api/v1/pleroma/chats/${chatId}/messages`)).body).toEqual([]);
  });
});

describe("custom CHAT_MESSAGE_LIMIT", () => {
  let small: TestParley;
  beforeAll(async () => {
    small = await startTestParley({ queue: "postgres", env: { CHAT_MESSAGE_LIMIT: "10" } });
  });
  afterAll(() => small.close());

  it("refuses content above the configured limit", async () => {
    const [alice, bob] = [await createAccount(small, "alice"), await createAccount(small, "bob")];
    const client = api(small.url, alice.token);
    const chatId = (await client.post(`/api/v1/pleroma/chats/by-account-id/${bob.account.id}`)).body.id;
    expect((await client.post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "0123456789" })).status).toBe(200);
    const refused = await client.post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "0123456789x" });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ error: "content_too_long" });
    const [message] = (await client.get(`/api/v1/pleroma/chats/${chatId}/messages`)).body;
    const edit = await client.put(`/api/v1/pleroma/chats/${chatId}/messages/${message.id}`, { content: "0123456789x" });
    expect(edit.status).toBe(422);
    expect(edit.body).toMatchObject({ error: "content_too_long" });
  });
});
