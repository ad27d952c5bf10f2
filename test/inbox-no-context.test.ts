import { randomUUID } from "node:crypto";
import { eventually, type Json, settled, stored } from "./helpers/inbox.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";

/**
 * Activities without `@context`, which Pleroma reads as plain JSON: its own Chats tests send
 * `test/fixtures/create-chat-message.json`, a Create{ChatMessage} with no context anywhere. Parley
 * reads such a body as ActivityStreams + litepub; the signature still covers the bytes received.
 */

let parley: TestParley;
let remote: RemoteServer;
let sender: RemoteActor;
let bob: Awaited<ReturnType<typeof createAccount>>;
let bobUri: string;

beforeAll(async () => {
  [parley, remote] = await Promise.all([startTestParley({ queue: "postgres" }), startRemoteServer()]);
  sender = remote.actor("raymoo", { capabilities: { acceptsChatMessages: true } });
  bob = await createAccount(parley, "bob");
  bobUri = `${parley.url}/users/bob`;
});
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close()]);
});

/** Pleroma's fixture, addressed to bob: no `@context` on the activity or the object. */
function contextless(content: string): Json {
  return {
    actor: sender.id,
    id: `${remote.url}/objects/${randomUUID()}`,
    object: {
      attributedTo: sender.id,
      content,
      id: `${remote.url}/objects/${randomUUID()}`,
      published: new Date().toISOString(),
      to: [bobUri],
      tag: [
        {
          icon: { type: "Image", url: `${remote.url}/emoji/Firefox.gif` },
          id: `${remote.url}/emoji/Firefox.gif`,
          name: ":firefox:",
          type: "Emoji",
          updated: "1970-01-01T00:00:00Z",
        },
      ],
      type: "ChatMessage",
    },
    published: new Date().toISOString(),
    to: [bobUri],
    type: "Create",
  };
}

const inbox = () => `${parley.url}/users/bob/inbox`;
const bobsMessages = async () => {
  const chats = (await api(parley.url, bob.token).get("/api/v1/pleroma/chats")).body as Json[];
  const chat = chats.find((c) => c.account.uri === sender.id);
  return chat ? ((await api(parley.url, bob.token).get(`/api/v1/pleroma/chats/${chat.id}/messages`)).body as Json[]) : [];
};

it("stores a signed Create{ChatMessage} without @context (202) and applies it: bob sees the message and its emoji", async () => {
  const activity = contextless("You expected a cute girl? Too bad. <script>alert('XSS')</script> :firefox:");
  const response = await signedPost(inbox(), activity, sender);
  expect(response.status).toBe(202);
  const sql = parley.parley.deps.db.$client;
  const [row] = await sql`SELECT actor_uri, payload FROM inbox_activities WHERE activity_uri = ${activity.id}`;
  // Stored as received: the implied context was only for parsing.
  expect(row.actor_uri).toBe(sender.id);
  expect(row.payload).toEqual(activity);
  await settled(parley);
  const messages = await eventually(
    async () => {
      const found = await bobsMessages();
      return found.length > 0 ? found : undefined;
    },
    5_000,
    "bob's message",
  );
  expect(messages[0].content).toContain("You expected a cute girl? Too bad.");
  expect(messages[0].content).not.toMatch(/script|alert/);
  expect(messages[0].emojis).toEqual([expect.objectContaining({ shortcode: "firefox", url: `${remote.url}/emoji/Firefox.gif` })]);
});

it("accepts a Delete without @context from the author, and the message goes", async () => {
  const activity = contextless("soon gone");
  expect((await signedPost(inbox(), activity, sender)).status).toBe(202);
  await settled(parley);
  expect((await bobsMessages()).map((m) => m.content)).toContain("soon gone");
  const remove = {
    id: `${remote.url}/activities/${randomUUID()}`,
    type: "Delete",
    actor: sender.id,
    to: [bobUri],
    object: activity.object.id,
  };
  expect((await signedPost(inbox(), remove, sender)).status).toBe(202);
  await settled(parley);
  expect((await bobsMessages()).map((m) => m.content)).not.toContain("soon gone");
});

it("still runs the chat rules on it: no content and no attachment → 422 no_content, nothing stored", async () => {
  const before = await stored(parley);
  const activity = contextless("x");
  delete activity.object.content;
  const response = await signedPost(inbox(), activity, sender);
  expect(response.status).toBe(422);
  expect(JSON.parse(response.body)).toEqual({ error: "invalid_chat_message", reason: "no_content" });
  expect(await stored(parley)).toEqual(before);
});

it("checks the Digest against the bytes received: a body changed after signing is refused (401), nothing stored", async () => {
  const before = await stored(parley);
  const activity = contextless("signed text");
  const response = await signedPost(inbox(), activity, sender, { tamper: (body) => body.replace("signed text", "forged text") });
  expect(response.status).toBe(401);
  expect(JSON.parse(response.body).error).toBe("invalid_signature");
  expect(await stored(parley)).toEqual(before);
});

it("an unsigned one is 401, not 'Missing actor.'", async () => {
  const response = await fetch(inbox(), {
    method: "POST",
    headers: { "content-type": "application/activity+json" },
    body: JSON.stringify(contextless("unsigned")),
  });
  expect(response.status).toBe(401);
  expect((await response.json()).error).toBe("invalid_signature");
});

it("a signer who is not the actor is refused (401 actor_key_mismatch), as with a context", async () => {
  const mallory = remote.actor("mallory");
  const response = await signedPost(inbox(), contextless("impersonated"), mallory);
  expect(response.status).toBe(401);
  expect(JSON.parse(response.body)).toMatchObject({ error: "invalid_signature" });
  expect((await bobsMessages()).map((m) => m.content)).not.toContain("impersonated");
});
