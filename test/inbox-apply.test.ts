import { randomUUID } from "node:crypto";
import { applyInboxActivity } from "../src/federation/inbox/apply-activities.js";
import { reconcileInbound } from "../src/federation/inbox/store.js";
import {
  deleteOf,
  eventually,
  honkChatMessage,
  type Json,
  lemmyChatMessage,
  pleromaChatMessage,
  settled,
  stored,
  undoOf,
  updateOf,
} from "./helpers/inbox.js";
import { api, createAccount, type QueueKind, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";

/**
 * The accept-and-apply path of the inbox (docs/federation.md) on both queue backends: a valid activity is
 * stored before the 202, the inbound worker applies it, the local recipient sees it through the API.
 */

describe.each<QueueKind>(["postgres", "redis"])("inbox → inbound worker (%s queues)", (queue) => {
  let parley: TestParley;
  let remote: RemoteServer;
  let pleroma: RemoteActor;
  let bob: Awaited<ReturnType<typeof createAccount>>;
  let bobUri: string;

  beforeAll(async () => {
    [parley, remote] = await Promise.all([startTestParley({ queue }), startRemoteServer()]);
    pleroma = remote.actor("alice", { name: "Alice", capabilities: { acceptsChatMessages: true } });
    bob = await createAccount(parley, "bob");
    bobUri = `${parley.url}/users/bob`;
  });
  afterAll(async () => {
    await Promise.all([parley?.close(), remote?.close()]);
  });

  const asBob = () => api(parley.url, bob.token);
  const post = async (activity: Json, actor: RemoteActor = pleroma, inbox = `${parley.url}/users/bob/inbox`) => {
    const response = await signedPost(inbox, activity, actor);
    expect(response.status).toBe(202);
  };
  /** Bob's chat with `actor`, once the worker made it (and `until` holds). */
  const chatWith = (actor: RemoteActor, until: (chat: Json) => boolean = () => true) =>
    eventually(
      async () => {
        const chats = (await asBob().get("/api/v1/pleroma/chats")).body as Json[];
        const chat = chats.find((c) => c.account.uri === actor.id);
        return chat && until(chat) ? chat : undefined;
      },
      5_000,
      `bob's chat with ${actor.username}`,
    );
  const messagesOf = async (chatId: string) => (await asBob().get(`/api/v1/pleroma/chats/${chatId}/messages`)).body as Json[];

  it("applies a valid Pleroma ChatMessage: the chat shows unread 1 and sanitized content", async () => {
    const activity = pleromaChatMessage(pleroma, bobUri, {
      content: 'hi <b>bob</b><script>alert("x")</script><a href="https://x.example" onclick="steal()">link</a> :blob:',
      tag: [
        { type: "Mention", href: bobUri, name: "@bob" },
        { type: "Emoji", id: `${remote.url}/emoji/blob.png`, name: ":blob:", icon: { type: "Image", url: `${remote.url}/emoji/blob.png` } },
      ],
    });
    await post(activity);
    // Durably written before the 202.
    const [row] = await parley.parley.deps.db
      .$client`SELECT activity_uri, actor_uri FROM inbox_activities WHERE activity_uri = ${activity.id}`;
    expect(row).toEqual({ activity_uri: activity.id, actor_uri: pleroma.id });

    const chat = await chatWith(pleroma);
    expect(chat.unread).toBe(1);
    expect(chat.account).toMatchObject({ acct: `alice@${new URL(remote.url).host}`, display_name: "Alice" });
    const content: string = chat.last_message.content;
    expect(content).toContain("hi <b>bob</b>");
    expect(content).toContain('<a href="https://x.example">link</a>');
    expect(content).not.toMatch(/script|alert|onclick|steal/);
    expect(chat.last_message).toMatchObject({
      account_id: chat.account.id,
      unread: true,
      created_at: new Date(activity.object.published).toISOString(),
      emojis: [
        { shortcode: "blob", url: `${remote.url}/emoji/blob.png`, static_url: `${remote.url}/emoji/blob.png`, visible_in_picker: false },
      ],
      attachment: null,
    });
    await settled(parley);
    const [applied] = await parley.parley.deps.db
      .$client`SELECT status, attempts FROM inbox_activities WHERE activity_uri = ${activity.id}`;
    expect(applied).toEqual({ status: "applied", attempts: 1 });
    // The recipient is notified (the notifications API arrives with issue 4).
    const notified = await parley.parley.deps.db.$client`
      SELECT n.type FROM notifications n JOIN accounts a ON a.id = n.from_account_id WHERE n.account_id = ${bob.account.id} AND a.uri = ${pleroma.id}`;
    expect(notified).toEqual([{ type: "pleroma:chat_mention" }]);
  });

  it("stores the same activity once, whichever inboxes it reaches", async () => {
    await settled(parley);
    const before = await stored(parley);
    const activity = pleromaChatMessage(pleroma, bobUri, { content: "once" });
    await post(activity);
    await post(activity, pleroma, `${parley.url}/inbox`);
    await post(activity);
    // The same object in a new activity: nothing new either.
    await post({ ...activity, id: `${remote.url}/activities/${randomUUID()}` });
    await settled(parley);
    const after = await stored(parley);
    expect(after.messages).toBe(before.messages + 1);
    expect(after.inbox).toBeLessThanOrEqual(before.inbox + 2);
    const chat = await chatWith(pleroma);
    expect((await messagesOf(chat.id)).filter((m) => m.content === "once")).toHaveLength(1);
  });

  it("accepts Lemmy 0.19 (join-lemmy context, markdown source, µs timestamps) on the shared inbox", async () => {
    const lemmy = remote.actor("lemmy_user", { capabilities: { acceptsChatMessages: true } });
    const activity = lemmyChatMessage(lemmy, bobUri);
    await post(activity, lemmy, `${parley.url}/inbox`);
    const chat = await chatWith(lemmy);
    expect(chat.last_message.content).toBe("<p>hello from <strong>lemmy</strong></p>");
    expect(chat.last_message.created_at).toBe(new Date(activity.object.published.replace(/(\.\d{3})\d+/, "$1")).toISOString());
  });

  it("accepts honk (AS-only context, empty content, attachment with a string url)", async () => {
    const honk = remote.actor("honk_user");
    const activity = honkChatMessage(honk, bobUri);
    await post(activity, honk);
    const chat = await chatWith(honk);
    expect(chat.last_message.content).toBeNull();
    expect(chat.last_message.attachment).toMatchObject({
      type: "image",
      url: `${remote.url}/d/tree.jpg`,
      remote_url: `${remote.url}/d/tree.jpg`,
      description: "tree.jpg",
      pleroma: { mime_type: "image/jpeg" },
    });
    expect(chat.last_message.attachment.id).toEqual(expect.any(String));
  });

  it("accepts a single attachment object (Pleroma's Link list url) and a single tag object", async () => {
    const sender = remote.actor("pleroma_media");
    const activity = pleromaChatMessage(sender, bobUri, {
      content: undefined,
      tag: { type: "Emoji", name: ":ok:", icon: { type: "Image", url: `${remote.url}/emoji/ok.png` } },
      attachment: {
        type: "Document",
        mediaType: "image/png",
        name: "alt text",
        url: [{ type: "Link", mediaType: "image/png", href: `${remote.url}/media/x.png`, width: 640, height: 480 }],
      },
    });
    await post(activity, sender);
    const chat = await chatWith(sender);
    expect(chat.last_message).toMatchObject({
      content: null,
      emojis: [expect.objectContaining({ shortcode: "ok" })],
      attachment: {
        type: "image",
        url: `${remote.url}/media/x.png`,
        description: "alt text",
        meta: { original: { width: 640, height: 480 } },
      },
    });
  });

  it("keeps the first of several attachments", async () => {
    const sender = remote.actor("two_files");
    const files = ["a", "b"].map((n) => ({ type: "Document", mediaType: "video/mp4", url: `${remote.url}/media/${n}.mp4` }));
    await post(pleromaChatMessage(sender, bobUri, { attachment: files }), sender);
    const chat = await chatWith(sender);
    expect(chat.last_message.attachment).toMatchObject({ type: "video", url: `${remote.url}/media/a.mp4` });
  });

  it("Update by the author edits; Delete tombstones for the recipient; Undo{Delete} restores", async () => {
    const lemmy = remote.actor("editor");
    const first = lemmyChatMessage(lemmy, bobUri, { content: "<p>first</p>" });
    const second = lemmyChatMessage(lemmy, bobUri, { content: "<p>second</p>" });
    await post(first, lemmy);
    await chatWith(lemmy);
    await post(second, lemmy);
    const chat = await chatWith(lemmy, (c) => c.unread === 2);
    const [newest, oldest] = await messagesOf(chat.id);
    expect([newest.content, oldest.content]).toEqual(["<p>second</p>", "<p>first</p>"]);

    // An edit of the newest: content replaced, edited_at set, the counter unchanged.
    const updated = new Date().toISOString();
    await post(updateOf(lemmy, { ...second.object, content: "<p>second, edited</p>", updated }, bobUri), lemmy);
    const edited = await chatWith(lemmy, (c) => c.last_message.content === "<p>second, edited</p>");
    expect(edited.unread).toBe(2);
    expect(edited.last_message.edited_at).toBe(updated);
    // A stale edit (older than the one applied) changes nothing.
    await post(updateOf(lemmy, { ...second.object, content: "<p>stale</p>", updated: first.object.published }, bobUri), lemmy);

    // Deleted by its author: gone for bob, the counter and last message follow.
    const deletion = deleteOf(lemmy, second.object.id, bobUri);
    await post(deletion, lemmy);
    const afterDelete = await chatWith(lemmy, (c) => c.last_message?.content === "<p>first</p>");
    expect(afterDelete.unread).toBe(1);
    expect((await messagesOf(chat.id)).map((m) => m.content)).toEqual(["<p>first</p>"]);

    // Lemmy's Undo{Delete}: back in its place (read, no new notification).
    await post(undoOf(lemmy, deletion, bobUri), lemmy);
    const restored = await chatWith(lemmy, (c) => c.last_message?.content === "<p>second, edited</p>");
    expect(restored.unread).toBe(1);
    expect((await messagesOf(chat.id)).map((m) => m.content)).toEqual(["<p>second, edited</p>", "<p>first</p>"]);
    await settled(parley);
  });

  it("Delete of a message by someone else than its author is ignored", async () => {
    const author = remote.actor("author");
    const other = remote.actor("other");
    const activity = pleromaChatMessage(author, bobUri, { content: "mine" });
    await post(activity, author);
    const chat = await chatWith(author);
    const before = await stored(parley);
    await post(deleteOf(other, activity.object.id, bobUri), other);
    await settled(parley);
    expect((await stored(parley)).inbox).toBe(before.inbox);
    expect((await messagesOf(chat.id)).map((m) => m.content)).toEqual(["mine"]);
  });

  it("Delete of an actor removes their chats and messages", async () => {
    const leaving = remote.actor("leaving");
    await post(pleromaChatMessage(leaving, bobUri, { content: "bye" }), leaving);
    await chatWith(leaving);
    const before = await stored(parley);
    await post(deleteOf(leaving, leaving.id, bobUri), leaving, `${parley.url}/inbox`);
    await settled(parley);
    const chats = (await asBob().get("/api/v1/pleroma/chats")).body as Json[];
    expect(chats.find((c) => c.account.uri === leaving.id)).toBeUndefined();
    expect((await stored(parley)).messages).toBe(before.messages - 1);
    const [account] = await parley.parley.deps.db.$client`SELECT count(*)::int AS n FROM accounts WHERE uri = ${leaving.id}`;
    expect(account.n).toBe(0);
  });

  it("the reconciler re-enqueues a pending activity whose job is missing", async () => {
    const lost = remote.actor("lost_job");
    const activity = pleromaChatMessage(lost, bobUri, { content: "found again" });
    const sql = parley.parley.deps.db.$client;
    // Accepted two minutes ago, its job lost with Redis.
    await sql`INSERT INTO inbox_activities (id, activity_uri, actor_uri, payload, received_at)
      VALUES (${`01${randomUUID().replaceAll("-", "").slice(0, 24)}`}, ${activity.id}, ${lost.id}, ${JSON.stringify(activity)}::jsonb, now() - interval '2 minutes')`;
    expect(await reconcileInbound(parley.parley.deps)).toBe(1);
    const chat = await chatWith(lost);
    expect(chat.last_message.content).toBe("found again");
    await settled(parley);
    expect(await reconcileInbound(parley.parley.deps)).toBe(0);
  });

  /** Writes an accepted activity the way the inbox does, minus its job (lost with Redis, say). */
  async function insertPending(activity: Json, actorUri: string, age = "2 minutes"): Promise<string> {
    const id = `01${randomUUID().replaceAll("-", "").slice(0, 24)}`;
    await parley.parley.deps.db.$client`INSERT INTO inbox_activities (id, activity_uri, actor_uri, payload, received_at)
      VALUES (${id}, ${activity.id}, ${actorUri}, ${JSON.stringify(activity)}::jsonb, now() - ${age}::interval)`;
    return id;
  }

  it("a Delete that overtakes its Create waits for it", async () => {
    const racer = remote.actor("racer");
    const create = pleromaChatMessage(racer, bobUri, { content: "short-lived" });
    await insertPending(create, racer.id, "0 seconds");
    // Accepted: its Create is on the way. Applied first, it waits (retried with backoff).
    await post(deleteOf(racer, create.object.id, bobUri), racer);
    expect(await reconcileInbound(parley.parley.deps, 0)).toBe(1);
    const chat = await chatWith(racer);
    await eventually(async () => (await messagesOf(chat.id)).length === 0, 8_000, "the Delete to be applied");
    await settled(parley);
    const rows = await parley.parley.deps.db.$client`SELECT status FROM inbox_activities WHERE actor_uri = ${racer.id}`;
    expect(rows.map((r) => r.status)).toEqual(["applied", "applied"]);
  });

  it("an activity that cannot be applied is marked failed with its error", async () => {
    const nobody = { id: `${remote.url}/users/nobody_there` } as RemoteActor;
    const id = await insertPending(
      pleromaChatMessage({ ...nobody, username: "nobody_there" } as RemoteActor, bobUri),
      nobody.id,
      "0 seconds",
    );
    await expect(applyInboxActivity(parley.parley.deps, id, { lastAttempt: false })).rejects.toThrow(/gone/);
    const [row] = await parley.parley.deps.db.$client`SELECT status, attempts, error FROM inbox_activities WHERE id = ${id}`;
    expect(row).toMatchObject({ status: "failed", attempts: 1, error: expect.stringContaining("gone") });
  });

  it("the Delete of an actor whose key answers 410 Gone is accepted unverified", async () => {
    const ghost = remote.actor("ghost");
    // Known (looked up, a chat opened) but never verified a signature: no key in Fedify's cache.
    const lookup = await asBob().get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(ghost.id)}`);
    expect(lookup.status).toBe(200);
    expect((await asBob().post(`/api/v1/pleroma/chats/by-account-id/${lookup.body.id}`)).status).toBe(200);
    remote.route("/users/ghost", (_req, res) => res.writeHead(410).end());
    try {
      // Anything else signed with the vanished key is refused.
      const forged = await signedPost(`${parley.url}/inbox`, pleromaChatMessage(ghost, bobUri), ghost);
      expect(forged.status).toBe(401);
      await post(deleteOf(ghost, ghost.id, bobUri), ghost, `${parley.url}/inbox`);
      await settled(parley);
      const [account] = await parley.parley.deps.db.$client`SELECT count(*)::int AS n FROM accounts WHERE uri = ${ghost.id}`;
      expect(account.n).toBe(0);
    } finally {
      remote.route("/users/ghost", undefined);
    }
  });
});
