import { eventually, type Json } from "./helpers/inbox.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * ActivityPub client-to-server outbox: two instances over loopback. alice on A posts a
 * ChatMessage (or a Create wrapping one) to her outbox; it is stored and delivered as a message of
 * the chat API would be, and bob on B receives it. Refusals carry the inbox's reason codes and store
 * nothing; only alice's own token may post to her outbox.
 */

const AS = "https://www.w3.org/ns/activitystreams";

let a: TestParley;
let b: TestParley;
let alice: Awaited<ReturnType<typeof createAccount>>;
let carol: Awaited<ReturnType<typeof createAccount>>;
let bob: Awaited<ReturnType<typeof createAccount>>;
let aliceUri: string;
let bobUri: string;

beforeAll(async () => {
  [a, b] = await Promise.all([startTestParley({ env: { CHAT_MESSAGE_LIMIT: "100" } }), startTestParley()]);
  [alice, carol, , bob] = await Promise.all([
    createAccount(a, "alice"),
    createAccount(a, "carol"),
    createAccount(a, "dave", { accepts_chat_messages: false }),
    createAccount(b, "bob"),
  ]);
  aliceUri = `${a.url}/users/alice`;
  bobUri = `${b.url}/users/bob`;
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

/** POSTs `body` to alice's outbox (JSON as `type`), with `token` (alice's by default; null: none). */
async function postOutbox(body: unknown, options: { token?: string | null; type?: string; user?: string } = {}) {
  const token = options.token === undefined ? alice.token : options.token;
  const response = await fetch(`${a.url}/users/${options.user ?? "alice"}/outbox`, {
    method: "POST",
    headers: {
      "content-type": options.type ?? "application/activity+json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: response.status, headers: response.headers, body: json };
}

const chatMessage = (extra: Json = {}): Json => ({ "@context": AS, type: "ChatMessage", to: [bobUri], content: "hello", ...extra });
const create = (object: Json, extra: Json = {}): Json => {
  const { "@context": _context, ...inner } = object;
  return { "@context": AS, type: "Create", actor: aliceUri, to: object.to, object: inner, ...extra };
};

/** Rows of A an outbox POST may write. */
async function rows() {
  const sql = a.parley.deps.db.$client;
  const [row] = await sql`SELECT (SELECT count(*) FROM messages)::int AS messages, (SELECT count(*) FROM chats)::int AS chats,
    (SELECT count(*) FROM deliveries)::int AS deliveries, (SELECT count(*) FROM notifications)::int AS notifications`;
  return row;
}

async function bobsChat(unread: number) {
  return eventually(
    async () => {
      const list = await api(b.url, bob.token).get("/api/v1/pleroma/chats");
      return list.body.length === 1 && list.body[0].unread === unread ? list.body[0] : undefined;
    },
    10_000,
    `bob's chat with ${unread} unread`,
  );
}

describe("POST /users/:username/outbox", () => {
  it("takes a ChatMessage: 201 with Location and the Create; bob on B receives it", async () => {
    const response = await postOutbox(chatMessage({ content: "Hello <b>bob</b>\nhttps://example.com" }));
    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toMatch(/^application\/activity\+json/);
    const location = response.headers.get("location");
    expect(location).toMatch(new RegExp(`^${a.url}/activities/[0-9a-z]{26}$`));
    const id = location!.split("/").pop();
    expect(response.body).toEqual({
      "@context": [AS, `${a.url}/schemas/litepub-0.1.jsonld`],
      id: location,
      type: "Create",
      actor: aliceUri,
      to: [bobUri],
      object: {
        id: `${a.url}/objects/${id}`,
        type: "ChatMessage",
        actor: aliceUri,
        attributedTo: aliceUri,
        to: [bobUri],
        // Plain text, composed as the chat API does: the markup is escaped, not interpreted.
        content: 'Hello &lt;b&gt;bob&lt;/b&gt;<br/><a href="https://example.com" rel="ugc">https://example.com</a>',
        published: expect.any(String),
        tag: [{ type: "Mention", href: bobUri, name: `@bob@${new URL(b.url).host}` }],
      },
    });

    // The chat was created on A, with the message, as the chat API would have.
    const aliceChats = await api(a.url, alice.token).get("/api/v1/pleroma/chats");
    expect(aliceChats.body).toHaveLength(1);
    expect(aliceChats.body[0]).toMatchObject({
      unread: 0,
      account: { acct: `bob@${new URL(b.url).host}` },
      last_message: { content: response.body.object.content },
    });

    const chat = await bobsChat(1);
    // B stores it through its remote sanitizer (which spells `<br />`): still text, not markup.
    expect(chat).toMatchObject({
      account: { acct: `alice@${new URL(a.url).host}` },
      last_message: { content: 'Hello &lt;b&gt;bob&lt;/b&gt;<br /><a href="https://example.com" rel="ugc">https://example.com</a>' },
    });
    await eventually(
      async () => {
        const shown = await api(a.url, alice.token).get(`/api/v1/pleroma/chats/${aliceChats.body[0].id}/messages`);
        return shown.body[0]?.parley?.delivery === "delivered";
      },
      10_000,
      "delivered on alice's side",
    );
  });

  it("takes a Create{ChatMessage} as application/ld+json, and one without `to` (copied from its object)", async () => {
    const ld = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"';
    const first = await postOutbox(create(chatMessage({ content: "second" })), { type: ld });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ type: "Create", to: [bobUri], object: { type: "ChatMessage", content: "second" } });
    expect(first.headers.get("location")).toBe(first.body.id);
    const { to: _to, ...withoutTo } = create(chatMessage({ content: "third" }));
    const second = await postOutbox(withoutTo, { type: "application/json" });
    expect(second.status).toBe(201);
    expect(second.body).toMatchObject({ to: [bobUri], object: { content: "third" } });
    const chat = await bobsChat(3);
    expect(chat.last_message.content).toBe("third");
  });

  it("delivers to a local recipient in-process, and uses the chat API's refusals for blocks and non-accepting recipients", async () => {
    const carolUri = `${a.url}/users/carol`;
    const sent = await postOutbox(chatMessage({ to: carolUri, content: "hi carol" }));
    expect(sent.status).toBe(201);
    const carolChats = await api(a.url, carol.token).get("/api/v1/pleroma/chats");
    expect(carolChats.body).toMatchObject([{ unread: 1, account: { acct: "alice" }, last_message: { content: "hi carol" } }]);

    expect((await api(a.url, carol.token).post(`/api/v1/accounts/${alice.account.id}/block`)).status).toBe(200);
    const before = await rows();
    const blocked = await postOutbox(chatMessage({ to: carolUri }));
    expect(blocked).toMatchObject({ status: 422, body: { error: "blocked" } });
    const refused = await postOutbox(chatMessage({ to: `${a.url}/users/dave` }));
    expect(refused).toMatchObject({ status: 422, body: { error: "recipient_does_not_accept_chats" } });
    expect(await rows()).toEqual(before);
  });

  const refusals: [string, () => unknown][] = [
    ["wrong_type", () => chatMessage({ type: "Note" })],
    ["wrong_type", () => create({ type: "Note", to: [bobUri], content: "x" })],
    ["wrong_type", () => ({ type: "Create", actor: aliceUri, to: [bobUri], object: `${a.url}/objects/x` })],
    ["wrong_type", () => ({ type: "Delete", actor: aliceUri, object: `${a.url}/objects/x` })],
    ["wrong_type", () => [chatMessage()]],
    ["actor_mismatch", () => chatMessage({ attributedTo: bobUri })],
    ["actor_mismatch", () => create(chatMessage(), { actor: `${a.url}/users/carol` })],
    ["recipient_count", () => chatMessage({ to: [] })],
    ["recipient_count", () => chatMessage({ to: undefined })],
    ["recipient_count", () => chatMessage({ to: [bobUri, `${a.url}/users/carol`] })],
    ["recipient_count", () => chatMessage({ cc: [`${AS}#Public`] })],
    ["to_mismatch", () => create(chatMessage(), { to: [`${a.url}/users/carol`] })],
    ["to_mismatch", () => create(chatMessage(), { to: [bobUri, `${a.url}/users/carol`] })],
    ["no_content", () => chatMessage({ content: "   \n" })],
    ["no_content", () => chatMessage({ content: undefined })],
    ["no_content", () => create(chatMessage({ content: "" }))],
    ["content_too_long", () => chatMessage({ content: "é".repeat(101) })],
    ["unsupported_attachment", () => chatMessage({ attachment: { type: "Document", url: "https://example.com/a.png" } })],
    ["unknown_recipient", () => chatMessage({ to: `${b.url}/users/nobody` })],
    ["unknown_recipient", () => chatMessage({ to: `${a.url}/users/nobody` })],
    ["unknown_recipient", () => create(chatMessage({ to: [`${a.url}/objects/01j00000000000000000000000`] }))],
  ];

  it.each(refusals)("refuses %s with 422 and stores nothing (case %#)", async (reason, body) => {
    const before = await rows();
    const response = await postOutbox(body());
    expect(response).toMatchObject({ status: 422, body: { error: "invalid_chat_message", reason } });
    expect(await rows()).toEqual(before);
  });

  it("refuses a deleted local account as unknown_recipient", async () => {
    const erin = await createAccount(a, "erin");
    expect((await api(a.url, a.adminToken).delete(`/api/v1/admin/accounts/${erin.account.id}`)).status).toBe(200);
    const before = await rows();
    const response = await postOutbox(chatMessage({ to: `${a.url}/users/erin` }));
    expect(response).toMatchObject({ status: 422, body: { error: "invalid_chat_message", reason: "unknown_recipient" } });
    expect(await rows()).toEqual(before);
  });

  it("accepts a message of exactly CHAT_MESSAGE_LIMIT characters", async () => {
    const response = await postOutbox(chatMessage({ content: "é".repeat(100) }));
    expect(response.status).toBe(201);
    expect(response.body.object.content).toBe("é".repeat(100));
  });

  it("answers 401 without a valid token, 403 to another account's token or the admin token, 404 for an unknown user", async () => {
    const before = await rows();
    expect(await postOutbox(chatMessage(), { token: null })).toMatchObject({ status: 401, body: { error: "missing_token" } });
    // bob's token is B's: on A it is no token at all.
    expect(await postOutbox(chatMessage(), { token: bob.token })).toMatchObject({ status: 401, body: { error: "invalid_token" } });
    expect(await postOutbox(chatMessage(), { token: carol.token })).toMatchObject({ status: 403, body: { error: "forbidden" } });
    expect(await postOutbox(chatMessage(), { token: a.adminToken })).toMatchObject({ status: 403, body: { error: "forbidden" } });
    expect(await postOutbox(chatMessage(), { user: "nobody" })).toMatchObject({ status: 404, body: { error: "not_found" } });
    // Another spelling of the name is not alice's outbox (one canonical actor per account).
    expect(await postOutbox(chatMessage(), { user: "ALICE" })).toMatchObject({ status: 404 });
    expect(await rows()).toEqual(before);
  });

  it("refuses bodies that are not ActivityStreams JSON", async () => {
    const before = await rows();
    expect(await postOutbox("content=hi", { type: "application/x-www-form-urlencoded" })).toMatchObject({
      status: 415,
      body: { error: "unsupported_media_type" },
    });
    expect(await postOutbox("{not json", { type: "application/activity+json" })).toMatchObject({
      status: 400,
      body: { error: "invalid_json" },
    });
    expect(await rows()).toEqual(before);
  });

  it("keeps GET of the outbox an empty collection", async () => {
    const response = await api(a.url).get("/users/alice/outbox", { accept: "application/activity+json" });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ type: "OrderedCollection", totalItems: 0 });
  });
});
