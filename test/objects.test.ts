import { createPrivateKey, webcrypto } from "node:crypto";
import { signRequest } from "@fedify/fedify/sig";
import { eventually, type Json, pleromaChatMessage, settled } from "./helpers/inbox.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, signedGet, signedPost, startRemoteServer } from "./helpers/remote.js";

/**
 * `GET /objects/:id` and `/activities/:id` of our chat messages: served only to a request
 * signed by a key on one of the participants' servers; 404 to everyone else and for what is not
 * ours; a Tombstone (410) to participants after deletion.
 */

const AS = "https://www.w3.org/ns/activitystreams";

let parley: TestParley;
let remote: RemoteServer;
let third: RemoteServer;
let rob: RemoteActor;
let ron: RemoteActor;
let eve: RemoteActor;
let alice: Awaited<ReturnType<typeof createAccount>>;
let aliceUri: string;
let chatId: string;

beforeAll(async () => {
  [parley, remote, third] = await Promise.all([startTestParley(), startRemoteServer(), startRemoteServer()]);
  rob = remote.actor("rob", { capabilities: { acceptsChatMessages: true } });
  ron = remote.actor("ron");
  eve = third.actor("eve");
  alice = await createAccount(parley, "alice");
  aliceUri = `${parley.url}/users/alice`;
  const asAlice = api(parley.url, alice.token);
  const found = await asAlice.get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(rob.id)}`);
  expect(found.status).toBe(200);
  const chat = await asAlice.post(`/api/v1/pleroma/chats/by-account-id/${found.body.id}`);
  expect(chat.status).toBe(200);
  chatId = chat.body.id;
});
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close(), third?.close()]);
});

/** Sends `content` from alice to rob; returns the API message id and the Create rob's server got. */
async function sendToRob(content: string): Promise<{ refId: string; activity: Json }> {
  const sent = await api(parley.url, alice.token).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content });
  expect(sent.status).toBe(200);
  const activity = await eventually(
    async () => {
      const posts = remote.requests.filter((r) => r.method === "POST").map((r) => JSON.parse(r.body) as Json);
      return posts.find((p) => p.type === "Create" && p.object?.content === content);
    },
    10_000,
    "the Create at rob's inbox",
  );
  return { refId: sent.body.id, activity };
}

/** GET signed RFC 9421 by `actor` (Fedify's signer; the draft-cavage one is Joyent's http-signature). */
async function rfc9421Get(url: string, actor: RemoteActor) {
  const der = createPrivateKey(actor.privateKeyPem).export({ type: "pkcs8", format: "der" });
  const key = await webcrypto.subtle.importKey("pkcs8", der, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["sign"]);
  const request = await signRequest(
    new Request(url, { headers: { accept: "application/activity+json" } }),
    key as CryptoKey,
    new URL(actor.keyId),
    {
      spec: "rfc9421",
    },
  );
  const response = await fetch(request);
  return { status: response.status, json: await response.json() };
}

describe("GET /objects/:id and /activities/:id", () => {
  let objectId: string;
  let activityId: string;
  let refId: string;
  let delivered: Json;

  beforeAll(async () => {
    const sent = await sendToRob("hello rob");
    refId = sent.refId;
    delivered = sent.activity;
    objectId = sent.activity.object.id;
    activityId = sent.activity.id;
    expect(objectId).toMatch(new RegExp(`^${parley.url}/objects/[0-9a-z]{26}$`));
  });

  it("serves the ChatMessage and its Create to an actor of the recipient's server", async () => {
    const object = await signedGet(objectId, rob);
    expect(object.status).toBe(200);
    expect(object.headers["content-type"]).toMatch(/^application\/activity\+json/);
    expect(object.headers["cache-control"]).toBe("private, no-store");
    expect(object.json).toEqual({
      "@context": [AS, `${parley.url}/schemas/litepub-0.1.jsonld`],
      id: objectId,
      type: "ChatMessage",
      actor: aliceUri,
      attributedTo: aliceUri,
      to: [rob.id],
      content: "hello rob",
      published: expect.any(String),
      tag: [{ type: "Mention", href: rob.id, name: `@rob@${new URL(remote.url).host}` }],
    });

    const activity = await signedGet(activityId, rob);
    expect(activity.status).toBe(200);
    expect(activity.headers["content-type"]).toMatch(/^application\/activity\+json/);
    expect(activity.json).toMatchObject({
      id: activityId,
      type: "Create",
      actor: aliceUri,
      to: [rob.id],
      object: { id: objectId, content: "hello rob" },
    });
    // What was delivered is what is served.
    expect(activity.json).toEqual(delivered);
  });

  it("serves any actor of a participant's server, and RFC 9421 signatures too", async () => {
    expect((await signedGet(objectId, ron)).status).toBe(200);
    const signed = await rfc9421Get(activityId, rob);
    expect(signed.status).toBe(200);
    expect(signed.json).toMatchObject({ id: activityId, type: "Create" });
  });

  it("answers 404 to an unsigned request, a third server, a bad signature and a stale date", async () => {
    for (const url of [objectId, activityId]) {
      const unsigned = await signedGet(url);
      expect(unsigned.status).toBe(404);
      expect(unsigned.json).toEqual({ error: "not_found" });
      expect((await signedGet(url, eve)).status).toBe(404);
      // rob's key id, another key: not rob.
      expect((await signedGet(url, { keyId: rob.keyId, privateKeyPem: eve.privateKeyPem })).status).toBe(404);
      expect((await signedGet(url, rob, { date: new Date(Date.now() - 3 * 3600_000) })).status).toBe(404);
    }
    expect((await rfc9421Get(objectId, eve)).status).toBe(404);
  });

  it("answers 404 for unknown ids, even signed by a participant's server", async () => {
    for (const path of [
      "/objects/01j0000000000000000000000a",
      "/activities/01j0000000000000000000000a",
      "/objects/not-an-id",
      "/activities/",
    ]) {
      const response = await signedGet(`${parley.url}${path}`, rob);
      expect(response.status).toBe(404);
      expect(response.json).toEqual({ error: "not_found" });
    }
  });

  it("does not serve a remote message we only received", async () => {
    const incoming = pleromaChatMessage(rob, aliceUri, { content: "from rob" });
    expect((await signedPost(`${parley.url}/inbox`, incoming, rob)).status).toBe(202);
    await settled(parley);
    const sql = parley.parley.deps.db.$client;
    const [row] = await sql`SELECT id FROM messages WHERE uri = ${incoming.object.id}`;
    expect(row).toBeDefined();
    for (const path of [`/objects/${row.id}`, `/activities/${row.id}`]) {
      expect((await signedGet(`${parley.url}${path}`, rob)).status).toBe(404);
    }
  });

  it("answers a Tombstone (410) to participants after deletion, 404 to others", async () => {
    const deleted = await api(parley.url, alice.token).delete(`/api/v1/pleroma/chats/${chatId}/messages/${refId}`);
    expect(deleted.status).toBe(200);

    const object = await signedGet(objectId, rob);
    expect(object.status).toBe(410);
    expect(object.headers["content-type"]).toMatch(/^application\/activity\+json/);
    expect(object.json).toEqual({
      "@context": [AS, `${parley.url}/schemas/litepub-0.1.jsonld`],
      id: objectId,
      type: "Tombstone",
      formerType: "ChatMessage",
      deleted: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T.*Z$/),
    });
    const activity = await signedGet(activityId, rob);
    expect(activity.status).toBe(410);
    expect(activity.json).toMatchObject({ id: activityId, type: "Tombstone", formerType: "Create", deleted: object.json.deleted });

    for (const url of [objectId, activityId]) {
      expect((await signedGet(url)).status).toBe(404);
      expect((await signedGet(url, eve)).status).toBe(404);
    }
  });
});
