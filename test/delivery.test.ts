import { chatTo, deliveriesOf, FAST_DELIVERY, insertRemoteAccount, sleep, waitUntil } from "./helpers/delivery.js";
import { type InboxSink, startInboxSink } from "./helpers/inbox-sink.js";
import { createAccount, type QueueKind, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Outgoing delivery, the basic path, on both queue backends: a message posted through the API to
 * a remote account reaches its inbox once, signed (verified by http-signature, not by Parley's
 * code), shaped as Pleroma sends it; the sender sees pending → delivered; edits and deletions
 * follow; recipients that cannot take chats are refused before anything is stored.
 */

describe.each<QueueKind>(["postgres", "redis"])("outgoing delivery with the %s queue", (queue) => {
  let parley: TestParley;
  let sink: InboxSink;
  let alice: Awaited<ReturnType<typeof createAccount>>;

  beforeAll(async () => {
    [parley, sink] = await Promise.all([startTestParley({ queue, deliveryTuning: FAST_DELIVERY }), startInboxSink()]);
    alice = await createAccount(parley, "alice");
    await parley.parley.deps.db.$client`INSERT INTO custom_emojis (id, shortcode, url, static_url)
      VALUES ('01hzzzzzzzzzzzzzzzzzzzzzzz', 'blob', ${`${parley.url}/emoji/blob.png`}, ${`${parley.url}/emoji/blob.png`})`;
  });
  afterAll(async () => {
    await Promise.all([parley?.close(), sink?.close()]);
  });

  it("POSTs one signed Create{ChatMessage} shaped as Pleroma's; the sender sees pending, then delivered", async () => {
    const bob = await insertRemoteAccount(parley, sink);
    const chat = await chatTo(parley, alice.token, bob.id);
    const sent = await chat.send("hi bob :blob:\nsee https://example.com/x");
    expect(sent.status).toBe(200);
    expect(sent.body.parley).toEqual({ delivery: "pending" });

    const [request] = await sink.waitFor(1);
    expect(request.path).toBe("/inbox");
    expect(request.signature).toMatchObject({ verified: true, keyId: `${parley.url}/users/alice#main-key` });
    expect(request.signature.headers).toEqual(["(request-target)", "host", "date", "digest", "content-type"]);
    expect(request.digestMatches).toBe(true);
    expect(request.headers["content-type"]).toBe("application/activity+json");

    const [row] = await deliveriesOf(parley, sent.body.id);
    const objectId = `${parley.url}/objects/${row.message_id}`;
    expect(request.activity).toEqual({
      "@context": ["https://www.w3.org/ns/activitystreams", `${parley.url}/schemas/litepub-0.1.jsonld`],
      id: `${parley.url}/activities/${row.message_id}`,
      type: "Create",
      actor: `${parley.url}/users/alice`,
      to: [bob.uri],
      object: {
        id: objectId,
        type: "ChatMessage",
        actor: `${parley.url}/users/alice`,
        attributedTo: `${parley.url}/users/alice`,
        to: [bob.uri],
        content: 'hi bob :blob:<br/>see <a href="https://example.com/x" rel="ugc">https://example.com/x</a>',
        published: sent.body.created_at,
        tag: [
          { type: "Mention", href: bob.uri, name: `@${bob.acct}` },
          {
            type: "Emoji",
            id: `${parley.url}/emoji/blob.png`,
            name: ":blob:",
            updated: "1970-01-01T00:00:00Z",
            icon: { type: "Image", url: `${parley.url}/emoji/blob.png`, mediaType: "image/png" },
          },
        ],
      },
    });
    expect(request.activity.object.published).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const delivered = await chat.until(sent.body.id, "delivered");
    expect(delivered.parley).toEqual({ delivery: "delivered" });
    const [done] = await deliveriesOf(parley, sent.body.id);
    expect(done).toMatchObject({ status: "delivered", attempts: 1, last_error: null, inbox_url: sink.sharedInbox, personal_inbox: false });
    // The chat list shows the same state on its last message, and no second POST ever comes.
    const chats = (await chat.client.get("/api/v1/pleroma/chats")).body;
    expect(chats.find((c: any) => c.id === chat.chatId).last_message.parley).toEqual({ delivery: "delivered" });
    await sleep(300);
    expect(sink.received.filter((r) => r.activity?.id === request.activity.id)).toHaveLength(1);
  });

  it("writes the local sender's chat only (no chat, reference or notification for the remote account) and answers what GET shows", async () => {
    const bob = await insertRemoteAccount(parley, sink);
    const chat = await chatTo(parley, alice.token, bob.id);
    const sent = await chat.send("only mine");
    expect(sent.status).toBe(200);
    const sql = parley.parley.deps.db.$client;
    const [counts] = await sql`SELECT
      (SELECT count(*)::int FROM chats WHERE account_id = ${bob.id}) AS chats,
      (SELECT count(*)::int FROM notifications WHERE account_id = ${bob.id}) AS notifications,
      (SELECT count(*)::int FROM message_refs r JOIN messages m ON m.id = r.message_id WHERE m.content = '<p>only mine</p>' OR m.source = 'only mine') AS refs`;
    expect(counts).toEqual({ chats: 0, notifications: 0, refs: 1 });
    const shown = await chat.client.get(`/api/v1/pleroma/chats/${chat.chatId}/messages`);
    const same = shown.body.find((m: { id: string }) => m.id === sent.body.id);
    // The delivery may have gone through meanwhile: compare all but its state.
    expect({ ...same, parley: undefined }).toEqual({ ...sent.body, parley: undefined });
  });

  it("federates Update and Delete of the sender's own message", async () => {
    const bob = await insertRemoteAccount(parley, sink);
    const chat = await chatTo(parley, alice.token, bob.id);
    const sent = await chat.send("first words");
    await chat.until(sent.body.id, "delivered");
    const messageId = (await deliveriesOf(parley, sent.body.id))[0].message_id as string;
    const objectId = `${parley.url}/objects/${messageId}`;
    const received = (type: string) =>
      waitUntil(
        async () => sink.received.find((r) => r.activity?.type === type && [r.activity.object?.id, r.activity.object].includes(objectId)),
        10_000,
        type,
      );

    const edited = await chat.client.put(`/api/v1/pleroma/chats/${chat.chatId}/messages/${sent.body.id}`, { content: "better words" });
    expect(edited.status).toBe(200);
    const update = await received("Update");
    expect(update.signature.verified).toBe(true);
    expect(update.activity).toMatchObject({
      type: "Update",
      actor: `${parley.url}/users/alice`,
      to: [bob.uri],
      object: { id: objectId, type: "ChatMessage", content: "better words", updated: edited.body.edited_at },
    });
    expect(update.activity.id).toMatch(new RegExp(`^${parley.url}/activities/[0-9a-z]{26}$`));

    const deleted = await chat.client.delete(`/api/v1/pleroma/chats/${chat.chatId}/messages/${sent.body.id}`);
    expect(deleted.status).toBe(200);
    const remove = await received("Delete");
    expect(remove.signature.verified).toBe(true);
    expect(remove.activity).toEqual({
      "@context": ["https://www.w3.org/ns/activitystreams", `${parley.url}/schemas/litepub-0.1.jsonld`],
      id: expect.stringMatching(new RegExp(`^${parley.url}/activities/[0-9a-z]{26}$`)),
      type: "Delete",
      actor: `${parley.url}/users/alice`,
      to: [bob.uri],
      object: objectId,
    });
    const sql = parley.parley.deps.db.$client;
    const rows = await waitUntil(async () => {
      const found = await sql`SELECT activity->>'type' AS type, status FROM deliveries WHERE message_id = ${messageId} ORDER BY id`;
      return found.every((r) => r.status === "delivered") ? found : undefined;
    });
    expect(rows.map((r) => r.type)).toEqual(["Create", "Update", "Delete"]);
  });

  it.each([
    [{ acceptsChatMessages: false }, "recipient_does_not_accept_chats"],
    [{ acceptsChatMessages: null, software: "mastodon" }, "recipient_cannot_receive_chats"],
    [{ acceptsChatMessages: null, software: "gotosocial" }, "recipient_cannot_receive_chats"],
  ])("refuses %j with 422 %s, storing and sending nothing", async (options, error) => {
    const carol = await insertRemoteAccount(parley, sink, options);
    const chat = await chatTo(parley, alice.token, carol.id);
    const before = sink.received.length;
    const refused = await chat.send("anyone there?");
    expect(refused.status).toBe(422);
    expect(refused.body).toEqual({ error });
    expect((await chat.client.get(`/api/v1/pleroma/chats/${chat.chatId}/messages`)).body).toEqual([]);
    const sql = parley.parley.deps.db.$client;
    expect(await sql`SELECT 1 FROM deliveries WHERE recipient_id = ${carol.id}`).toHaveLength(0);
    await sleep(100);
    expect(sink.received.length).toBe(before);
  });

  it.each(["lemmy 0.20.1", null])(
    "sends when the actor does not say and its software (%s) is not known to drop ChatMessage",
    async (software) => {
      const dave = await insertRemoteAccount(parley, sink, { acceptsChatMessages: null, software });
      const chat = await chatTo(parley, alice.token, dave.id);
      const sent = await chat.send(`hello ${software}`);
      expect(sent.status).toBe(200);
      await chat.until(sent.body.id, "delivered");
    },
  );
});
