import { createHash, generateKeyPairSync } from "node:crypto";
import { type Json, pleromaChatMessage, settled, stored } from "./helpers/inbox.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, signedPost, signedPostWithDigest, startRemoteServer } from "./helpers/remote.js";

/**
 * The inbox's refusals (docs/federation.md): every ChatMessage rule with its reason code, signatures,
 * blocks, duplicates. Each case proves that nothing was stored. (Acceptance and application:
 * inbox-apply.test.ts.)
 */

let parley: TestParley;
let remote: RemoteServer;
let sender: RemoteActor;
let mallory: RemoteActor;
let bobUri: string;

beforeAll(async () => {
  [parley, remote] = await Promise.all([
    // A small remote limit keeps the content_too_long body small.
    startTestParley({ queue: "postgres", env: { REMOTE_MESSAGE_LIMIT: "1000" } }),
    startRemoteServer(),
  ]);
  sender = remote.actor("sender", { capabilities: { acceptsChatMessages: true } });
  mallory = remote.actor("mallory");
  await createAccount(parley, "bob");
  bobUri = `${parley.url}/users/bob`;
});
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close()]);
});

const sharedInbox = () => `${parley.url}/inbox`;
const bobInbox = () => `${parley.url}/users/bob/inbox`;
const message = (object: Json = {}, activity: Json = {}) => pleromaChatMessage(sender, bobUri, object, activity);

/** POSTs the activity and checks that the inbox stored nothing, whatever it answered. */
async function postStoringNothing(activity: Json | string, options: Parameters<typeof signedPost>[3] = {}, inbox = sharedInbox()) {
  const before = await stored(parley);
  const response = await signedPost(inbox, activity, sender, options);
  // Let anything that would have been enqueued run before counting.
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(await stored(parley)).toEqual(before);
  return { status: response.status, body: response.body ? JSON.parse(response.body) : undefined };
}

describe("ChatMessage rules: 422 with the reason code, nothing stored", () => {
  const cases: [string, string, () => Json][] = [
    ["wrong_type", "type is a list", () => message({ type: ["ChatMessage"] })],
    ["wrong_type", "type in another spelling", () => message({ type: "litepub:ChatMessage" })],
    ["foreign_object_id", "object id on another server", () => message({ id: "https://elsewhere.example/objects/1" })],
    ["foreign_object_id", "object id not http(s)", () => message({ id: "urn:uuid:1" })],
    ["foreign_object_id", "no object id", () => message({ id: undefined })],
    ["actor_mismatch", "attributedTo is someone else", () => message({ attributedTo: mallory.id, actor: undefined })],
    ["actor_mismatch", "object actor is someone else", () => message({ actor: mallory.id })],
    ["actor_mismatch", "no author at all", () => message({ actor: undefined, attributedTo: undefined })],
    [
      "recipient_count",
      "two recipients",
      () => message({ to: [bobUri, `${parley.url}/users/carol`] }, { to: [bobUri, `${parley.url}/users/carol`] }),
    ],
    ["recipient_count", "no recipient", () => message({ to: [] }, { to: [] })],
    ["recipient_count", "only non-URL recipients", () => message({ to: ["Public", "bob"] }, { to: ["Public", "bob"] })],
    ["to_mismatch", "activity to differs", () => message({}, { to: [sender.id] })],
    ["to_mismatch", "activity has no to", () => message({}, { to: undefined })],
    [
      "unknown_recipient",
      "no such local account",
      () => message({ to: [`${parley.url}/users/nobody`] }, { to: [`${parley.url}/users/nobody`] }),
    ],
    ["unknown_recipient", "a remote recipient", () => message({ to: [mallory.id] }, { to: [mallory.id] })],
    ["missing_published", "no published", () => message({ published: undefined })],
    ["missing_published", "published is not a date", () => message({ published: "yesterday" })],
    ["missing_published", "published out of range", () => message({ published: "2024-02-31T10:00:00Z" })],
    ["no_content", "empty content, no attachment", () => message({ content: "" })],
    ["no_content", "no content key", () => message({ content: undefined })],
    ["no_content", "whitespace and empty markup", () => message({ content: " <p> </p> " })],
    ["no_content", "only a script", () => message({ content: "<script>alert(1)</script>" })],
    ["no_content", "empty attachment list", () => message({ content: "", attachment: [] })],
    ["content_too_long", "over REMOTE_MESSAGE_LIMIT", () => message({ content: "x".repeat(1001) })],
    [
      "bad_emoji",
      "javascript: icon",
      () => message({ tag: [{ type: "Emoji", name: ":evil:", icon: { type: "Image", url: "javascript:alert(1)" } }] }),
    ],
    [
      "bad_emoji",
      "data: icon, single tag object",
      () => message({ tag: { type: "Emoji", name: ":evil:", icon: { type: "Image", url: "data:image/png;base64,AAAA" } } }),
    ],
  ];

  it.each(cases)("%s: %s", async (reason, _what, build) => {
    const response = await postStoringNothing(build());
    expect(response).toEqual({ status: 422, body: { error: "invalid_chat_message", reason } });
  });

  it("recipient_does_not_accept_chats: the recipient turned chats off", async () => {
    const carol = await createAccount(parley, "carol", { accepts_chat_messages: false });
    const carolUri = `${parley.url}/users/carol`;
    const response = await postStoringNothing(pleromaChatMessage(sender, carolUri), {}, `${parley.url}/users/carol/inbox`);
    expect(response).toEqual({ status: 422, body: { error: "invalid_chat_message", reason: "recipient_does_not_accept_chats" } });
    expect(carol.account.username).toBe("carol");
  });

  it("exactly the limit is not too long", async () => {
    const response = await signedPost(sharedInbox(), message({ content: "é".repeat(1000) }), sender);
    expect(response.status).toBe(202);
    await settled(parley);
  });

  it("the same refused activity is refused again (a refusal is not remembered as processed)", async () => {
    const activity = message({ content: "" });
    expect((await postStoringNothing(activity)).status).toBe(422);
    expect((await postStoringNothing(activity)).status).toBe(422);
  });

  it("an activity id on another server than the actor's is refused (400)", async () => {
    const response = await postStoringNothing(message({}, { id: "https://elsewhere.example/activities/1" }));
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: "invalid_activity" });
  });
});

describe("signatures: 401, nothing stored", () => {
  const otherKey = () =>
    generateKeyPairSync("rsa", {
      modulusLength: 2048,
      privateKeyEncoding: { type: "pkcs1", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    }).privateKey;

  it("unsigned", async () => {
    const before = await stored(parley);
    const response = await fetch(bobInbox(), {
      method: "POST",
      headers: { "content-type": "application/activity+json" },
      body: JSON.stringify(message()),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: "invalid_signature", reason: "noSignature" });
    expect(await stored(parley)).toEqual(before);
  });

  it("unsigned, with a published Fedify cannot even parse (401, not 400 or 422)", async () => {
    const before = await stored(parley);
    const response = await fetch(sharedInbox(), {
      method: "POST",
      headers: { "content-type": "application/activity+json" },
      body: JSON.stringify(message({ published: "yesterday" })),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: "invalid_signature", reason: "noSignature" });
    expect(await stored(parley)).toEqual(before);
  });

  it("signed with another key than the actor's", async () => {
    const response = await postStoringNothing(message(), { privateKeyPem: otherKey() });
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ error: "invalid_signature" });
  });

  it("body changed after signing", async () => {
    const response = await postStoringNothing(message({ content: "original" }), { tamper: (body) => body.replace("original", "changed!") });
    expect(response).toEqual({ status: 401, body: { error: "invalid_signature", reason: "invalidSignature" } });
  });

  it("a signed Digest header that does not describe the body", async () => {
    const before = await stored(parley);
    const wrong = `SHA-256=${createHash("sha256").update("another body").digest("base64")}`;
    const response = await signedPostWithDigest(sharedInbox(), message(), sender, wrong);
    expect(response.status).toBe(401);
    expect(JSON.parse(response.body)).toMatchObject({ error: "invalid_signature" });
    expect(await stored(parley)).toEqual(before);
  });

  it("a Date three hours old", async () => {
    const response = await postStoringNothing(message(), { date: new Date(Date.now() - 3 * 3600_000) });
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ error: "invalid_signature" });
  });

  it("a valid signature by another actor than the activity's", async () => {
    const before = await stored(parley);
    const response = await signedPost(sharedInbox(), message(), mallory);
    expect(response.status).toBe(401);
    expect(JSON.parse(response.body)).toEqual({ error: "invalid_signature", reason: "actor_key_mismatch" });
    expect(await stored(parley)).toEqual(before);
  });
});

describe("blocks", () => {
  it("the admin's domain block: 403, nothing stored; lifted: accepted again", async () => {
    const admin = api(parley.url, parley.adminToken);
    const host = new URL(remote.url).host;
    const block = await admin.post("/api/v1/admin/domain_blocks", { domain: host });
    expect(block.status).toBe(200);
    try {
      expect(await postStoringNothing(message())).toEqual({ status: 403, body: { error: "domain_blocked" } });
      // Whatever the activity: a Follow, an invalid message.
      const follow = {
        "@context": "https://www.w3.org/ns/activitystreams",
        id: `${remote.url}/follows/1`,
        type: "Follow",
        actor: sender.id,
        object: bobUri,
      };
      expect((await postStoringNothing(follow)).status).toBe(403);
      expect((await postStoringNothing(message({ content: "" }))).status).toBe(403);
    } finally {
      expect((await admin.delete(`/api/v1/admin/domain_blocks/${block.body.id}`)).status).toBe(200);
    }
    expect((await signedPost(sharedInbox(), message(), sender)).status).toBe(202);
    await settled(parley);
  });

  it("a block of the host without its port covers every port", async () => {
    const admin = api(parley.url, parley.adminToken);
    const block = await admin.post("/api/v1/admin/domain_blocks", { domain: new URL(remote.url).hostname });
    try {
      expect((await postStoringNothing(message())).status).toBe(403);
    } finally {
      await admin.delete(`/api/v1/admin/domain_blocks/${block.body.id}`);
    }
  });

  it("the recipient blocks the sender: 202 as usual, nothing stored", async () => {
    const dave = await createAccount(parley, "dave");
    const daveUri = `${parley.url}/users/dave`;
    // dave looks the sender up (caching the remote account) and blocks them.
    const lookup = await api(parley.url, dave.token).get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(sender.id)}`);
    expect(lookup.status).toBe(200);
    expect((await api(parley.url, dave.token).post(`/api/v1/accounts/${lookup.body.id}/block`)).status).toBe(200);
    const response = await postStoringNothing(pleromaChatMessage(sender, daveUri), {}, `${parley.url}/users/dave/inbox`);
    expect(response.status).toBe(202);
    expect((await api(parley.url, dave.token).get("/api/v1/pleroma/chats")).body).toEqual([]);
  });
});

describe("other activities", () => {
  it("a Create{Note}, a Like, an Undo{Follow}: 202, nothing stored", async () => {
    const base = { "@context": "https://www.w3.org/ns/activitystreams", actor: sender.id };
    const note = message({ type: "Note" });
    const like = { ...base, id: `${remote.url}/likes/1`, type: "Like", object: `${parley.url}/objects/x` };
    const undo = {
      ...base,
      id: `${remote.url}/undo/1`,
      type: "Undo",
      object: { id: `${remote.url}/follows/9`, type: "Follow", actor: sender.id, object: bobUri },
    };
    for (const activity of [note, like, undo]) expect((await postStoringNothing(activity)).status).toBe(202);
  });

  it("a Delete, Update or Undo{Delete} of a message we do not have: 202, nothing stored", async () => {
    const objectId = `${remote.url}/objects/unknown`;
    const del = {
      "@context": "https://www.w3.org/ns/activitystreams",
      id: `${remote.url}/activities/d1`,
      type: "Delete",
      actor: sender.id,
      to: [bobUri],
      object: objectId,
    };
    const update = { ...del, id: `${remote.url}/activities/u1`, type: "Update", object: message({ id: objectId }).object };
    const undo = { ...del, id: `${remote.url}/activities/x1`, type: "Undo", object: { ...del, "@context": undefined } };
    for (const activity of [del, update, undo]) expect((await postStoringNothing(activity)).status).toBe(202);
  });

  it("a Delete of an actor we never saw: 202, nothing stored", async () => {
    const stranger = remote.actor("stranger");
    const del = {
      "@context": "https://www.w3.org/ns/activitystreams",
      id: `${remote.url}/activities/gone`,
      type: "Delete",
      actor: stranger.id,
      to: [bobUri],
      object: stranger.id,
    };
    const before = await stored(parley);
    expect((await signedPost(sharedInbox(), del, stranger)).status).toBe(202);
    expect(await stored(parley)).toEqual(before);
  });

  it("another server cannot mark a future activity id of this server as processed", async () => {
    const evilServer = await startRemoteServer();
    try {
      const evil = evilServer.actor("evil");
      const future = message();
      const like = { "@context": "https://www.w3.org/ns/activitystreams", id: future.id, type: "Like", actor: evil.id, object: bobUri };
      expect((await signedPost(sharedInbox(), like, evil)).status).toBe(202);
      const before = await stored(parley);
      expect((await signedPost(sharedInbox(), future, sender)).status).toBe(202);
      expect((await stored(parley)).inbox).toBe(before.inbox + 1);
      await settled(parley);
    } finally {
      await evilServer.close();
    }
  });

  it("not JSON → 400; not an activity → 400", async () => {
    expect(await postStoringNothing("{nope")).toEqual({ status: 400, body: { error: "invalid_json" } });
    const person = { "@context": "https://www.w3.org/ns/activitystreams", id: sender.id, type: "Person" };
    expect((await postStoringNothing(person)).status).toBe(400);
  });
});

describe("host pause", () => {
  it("a signed request from a paused host lifts its delivery pause", async () => {
    const sql = parley.parley.deps.db.$client;
    const host = new URL(sender.id).host;
    await sql`INSERT INTO host_states (host, failures, paused_until, expires_at)
      VALUES (${host}, 5, now() + interval '30 minutes', now() + interval '1 hour')`;
    const response = await signedPost(
      sharedInbox(),
      {
        "@context": "https://www.w3.org/ns/activitystreams",
        id: `${new URL(sender.id).origin}/activities/like-1`,
        type: "Like",
        actor: sender.id,
        object: bobUri,
      },
      sender,
    );
    expect(response.status).toBe(202);
    expect(await sql`SELECT host FROM host_states WHERE host = ${host}`).toHaveLength(0);
  });
});
