import { randomUUID } from "node:crypto";
import { honkChatMessage, type Json, pleromaChatMessage, settled, stored } from "./helpers/inbox.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";
import { pleromaPort } from "./helpers/pleroma-port.js";
import { type RemoteActor, type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";

/**
 * Pleroma's validation and incoming-federation tests of ChatMessage (kphrx/pleroma, develop), ported
 * to HTTP: each object Pleroma validates or hands to `Transmogrifier.handle_incoming` is POSTed,
 * signed by a fake remote server, to a Parley inbox, and the outcome read through the chat API.
 * Pleroma's validator tests build local → remote messages; the inbox sees remote → local, so the
 * roles are swapped. Files: test/pleroma/web/activity_pub/object_validators/chat_validation_test.exs,
 * test/pleroma/web/activity_pub/transmogrifier/chat_message_test.exs,
 * test/pleroma/web/activity_pub/views/user_view_test.exs ("acceptsChatMessages"),
 * test/pleroma/web/mastodon_api/update_credentials_test.exs (its chat case).
 *
 * Not applicable over HTTP (1 of 24 cases, and one part):
 * - "it doesn't work for deactivated users": Parley has no deactivated state for a remote account
 *   (no admin suspension of remote accounts; a Delete of the actor removes it).
 * - In "acceptsChatMessages", the actor whose value is unset (nil): Parley's setting is a boolean.
 */

let parley: TestParley;
let remote: RemoteServer;
let raymoo: RemoteActor;
const { account, as, chatOf, messagesOf } = pleromaPort(() => parley);

beforeAll(async () => {
  [parley, remote] = await Promise.all([
    // Pleroma's test sets :remote_limit to 2; Parley's REMOTE_MESSAGE_LIMIT is set low here.
    startTestParley({ queue: "postgres", env: { REMOTE_MESSAGE_LIMIT: "1000" } }),
    startRemoteServer(),
  ]);
  raymoo = remote.actor("raymoo", { capabilities: { acceptsChatMessages: true } });
});
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close()]);
});

type Local = Awaited<ReturnType<typeof account>>;
const uriOf = (who: Local) => `${parley.url}/users/${who.account.username}`;
const inbox = () => `${parley.url}/inbox`;

/** The local user's messages from `actor` once the worker applied everything (none: []). */
async function receivedFrom(who: Local, actor: RemoteActor): Promise<Json[]> {
  await settled(parley);
  const chat = ((await as(who).get("/api/v1/pleroma/chats")).body as Json[]).find((c) => c.account.uri === actor.id);
  return chat ? messagesOf(who, chat.id) : [];
}

/** POSTs `activity` signed by `actor` and expects Parley's 422 with one of `reasons`, nothing stored. */
async function refused(activity: Json, reasons: string[], actor = raymoo) {
  const before = await stored(parley);
  const response = await signedPost(inbox(), activity, actor);
  // compatibility.md (Inbox), "invalid `Create{ChatMessage}`": 422 with the reason at once, nothing stored.
  expect(response.status).toBe(422);
  const body = JSON.parse(response.body);
  expect(body.error).toBe("invalid_chat_message");
  expect(reasons).toContain(body.reason);
  expect(await stored(parley)).toEqual(before);
}

async function accepted(activity: Json, actor = raymoo) {
  const response = await signedPost(inbox(), activity, actor);
  // The body is part of the comparison so that a refusal shows its reason.
  expect({ status: response.status, body: response.body }).toEqual({ status: 202, body: expect.anything() });
}

const firefoxTag = () => ({
  type: "Emoji",
  id: `${remote.url}/emoji/Firefox.gif`,
  name: ":firefox:",
  icon: { type: "Image", url: `${remote.url}/emoji/Firefox.gif` },
  updated: "1970-01-01T00:00:00Z",
});
const image = () => ({ type: "Document", mediaType: "image/jpeg", name: "an_image.jpg", url: `${remote.url}/media/an_image.jpg` });

describe("chat message create activities", () => {
  test("it is invalid if the object already exists", async () => {
    const user = await account("user");
    const first = pleromaChatMessage(raymoo, uriOf(user), { content: "hey" });
    await accepted(first);
    const again = pleromaChatMessage(raymoo, uriOf(user), first.object);
    const response = await signedPost(inbox(), again, raymoo);
    expect(response.status).toBeLessThan(500);
    expect((await receivedFrom(user, raymoo)).map((m) => m.content)).toEqual(["hey"]);
  });

  test("it is invalid if the object data has a different `to` or `actor` field", async () => {
    const user = await account("user");
    // Builder.chat_message(recipient, user.ap_id, "Hey") wrapped in a Create by the other side.
    const activity = pleromaChatMessage(raymoo, uriOf(user), { actor: uriOf(user), attributedTo: uriOf(user), to: [raymoo.id] });
    await refused(activity, ["actor_mismatch", "to_mismatch"]);
  });
});

describe("chat messages", () => {
  test("let's through some basic html", async () => {
    const user = await account("user");
    await accepted(
      pleromaChatMessage(raymoo, uriOf(user), {
        content: "hey <a href='https://example.org'>example</a> <script>alert('uguu')</script>",
      }),
    );
    const [message] = await receivedFrom(user, raymoo);
    // Pleroma keeps the script's text ("alert(&#39;uguu&#39;)"); Parley drops script and style
    // elements with their text (compatibility.md, Inbox: "script and style in content").
    expect(message.content).toBe('hey <a href="https://example.org">example</a>');
  });

  test("validates for a basic object we build", async () => {
    const user = await account("user");
    await accepted(pleromaChatMessage(raymoo, uriOf(user), { content: "hey :firefox:", tag: [firefoxTag()] }));
    const [message] = await receivedFrom(user, raymoo);
    expect(message.content).toBe("hey :firefox:");
    expect(message.emojis).toEqual([expect.objectContaining({ shortcode: "firefox", url: `${remote.url}/emoji/Firefox.gif` })]);
  });

  test("validates for a basic object with an attachment", async () => {
    const user = await account("user");
    await accepted(pleromaChatMessage(raymoo, uriOf(user), { content: "hey", attachment: image() }));
    const [message] = await receivedFrom(user, raymoo);
    expect(message.attachment).toMatchObject({ type: "image", url: `${remote.url}/media/an_image.jpg` });
  });

  test("validates for a basic object with an attachment in an array", async () => {
    const user = await account("user");
    await accepted(pleromaChatMessage(raymoo, uriOf(user), { content: "hey", attachment: [image()] }));
    const [message] = await receivedFrom(user, raymoo);
    expect(message.attachment).toMatchObject({ type: "image", url: `${remote.url}/media/an_image.jpg` });
  });

  test("validates for a basic object with an attachment but without content", async () => {
    const user = await account("user");
    await accepted(pleromaChatMessage(raymoo, uriOf(user), { content: undefined, attachment: image() }));
    const [message] = await receivedFrom(user, raymoo);
    expect(message.attachment).toMatchObject({ type: "image" });
  });

  test("validates for a basic object with content but attachment set to empty array", async () => {
    const user = await account("user");
    await accepted(pleromaChatMessage(raymoo, uriOf(user), { content: "Hello!", attachment: [] }));
    const [message] = await receivedFrom(user, raymoo);
    expect(message).toMatchObject({ content: "Hello!", attachment: null });
  });

  test("does not validate if the message has no content", async () => {
    const user = await account("user");
    await refused(pleromaChatMessage(raymoo, uriOf(user), { content: undefined }), ["no_content"]);
  });

  test("does not validate if the message is longer than the remote_limit", async () => {
    const user = await account("user");
    await refused(pleromaChatMessage(raymoo, uriOf(user), { content: "x".repeat(1001) }), ["content_too_long"]);
  });

  test("does not validate if the recipient is blocking the actor", async () => {
    const user = await account("user");
    const found = await as(user).get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(raymoo.id)}`);
    expect(found.status).toBe(200);
    expect((await as(user).post(`/api/v1/accounts/${found.body.id}/block`)).status).toBe(200);
    const before = await stored(parley);
    // compatibility.md (Inbox), "recipient blocks the sender": 202, nothing stored (not revealed).
    await accepted(pleromaChatMessage(raymoo, uriOf(user), { content: "hey" }));
    expect(await stored(parley)).toEqual(before);
    expect(await receivedFrom(user, raymoo)).toEqual([]);
  });

  test("does not validate if the recipient is not accepting chat messages", async () => {
    const user = await account("user");
    expect((await as(user).patch("/api/v1/accounts/update_credentials", { accepts_chat_messages: false })).status).toBe(200);
    await refused(pleromaChatMessage(raymoo, uriOf(user), { content: "hey" }), ["recipient_does_not_accept_chats"]);
  });

  test("does not validate if the actor or the recipient is not in our system", async () => {
    const user = await account("user");
    await refused(pleromaChatMessage(raymoo, uriOf(user), { actor: "https://raymoo.com/raymoo" }), ["actor_mismatch"]);
    const elsewhere = ["https://raymoo.com/raymoo"];
    await refused(pleromaChatMessage(raymoo, uriOf(user), { to: elsewhere }, { to: elsewhere }), ["unknown_recipient"]);
  });

  test("does not validate for a message with multiple recipients", async () => {
    const user = await account("user");
    const to = [uriOf(user), raymoo.id];
    await refused(pleromaChatMessage(raymoo, uriOf(user), { to }, { to }), ["recipient_count"]);
  });

  test("does not validate if it doesn't concern local users", async () => {
    const other = remote.actor(`remote_${randomUUID().slice(0, 8)}`);
    const to = [other.id];
    await refused(pleromaChatMessage(raymoo, other.id, { to }, { to }), ["unknown_recipient"]);
  });
});

describe("handle_incoming", () => {
  /** test/fixtures/create-chat-message.json: no @context, no object `actor`, an Emoji tag. */
  function fixture(actor: RemoteActor, to: string): Json {
    const origin = new URL(actor.id).origin;
    return {
      actor: actor.id,
      id: `${origin}/objects/${randomUUID()}`,
      object: {
        attributedTo: actor.id,
        content: "You expected a cute girl? Too bad. <script>alert('XSS')</script>",
        id: `${origin}/objects/${randomUUID()}`,
        published: "2020-02-12T14:08:20Z",
        to: [to],
        tag: [firefoxTag()],
        type: "ChatMessage",
      },
      published: "2018-02-12T14:08:20Z",
      to: [to],
      type: "Create",
    };
  }
  const withContext = (activity: Json): Json => ({ "@context": "https://www.w3.org/ns/activitystreams", ...activity });

  test("handles chonks with attachment", async () => {
    const user = await account("user");
    const tedu = remote.actor(`tedu_${randomUUID().slice(0, 8)}`);
    await accepted(honkChatMessage(tedu, uriOf(user)), tedu);
    const [message] = await receivedFrom(user, tedu);
    expect(message.attachment).toMatchObject({ type: "image" });
  });

  test("it rejects messages that don't contain content", async () => {
    const user = await account("user");
    const data = withContext(fixture(raymoo, uriOf(user)));
    delete data.object.content;
    await refused(data, ["no_content"]);
  });

  test("it rejects messages that don't concern local users", async () => {
    const other = remote.actor(`remote_${randomUUID().slice(0, 8)}`);
    await refused(withContext(fixture(raymoo, other.id)), ["unknown_recipient"]);
  });

  test("it rejects messages where the `to` field of activity and object don't match", async () => {
    const user = await account("user");
    const data = { ...withContext(fixture(raymoo, uriOf(user))), to: raymoo.id };
    await refused(data, ["to_mismatch"]);
    expect(await receivedFrom(user, raymoo)).toEqual([]);
  });

  test("it fetches the actor if they aren't in our system", async () => {
    const user = await account("user");
    const stranger = remote.actor(`admin_${randomUUID().slice(0, 8)}`);
    const data = withContext(fixture(stranger, uriOf(user)));
    data.object.actor = stranger.id;
    await accepted(data, stranger);
    expect(await receivedFrom(user, stranger)).toHaveLength(1);
  });

  test("it inserts it and creates a chat", async () => {
    const marisa = await account("marisa");
    // The fixture exactly: it has no @context (issue 12).
    await accepted(fixture(raymoo, uriOf(marisa)));
    const [message] = await receivedFrom(marisa, raymoo);
    // Pleroma keeps "alert(&#39;XSS&#39;)" as text; Parley drops it (compatibility.md, Inbox: "script and style in content").
    expect(message.content).toBe("You expected a cute girl? Too bad.");
    expect(message.emojis).toEqual([expect.objectContaining({ shortcode: "firefox" })]);
    // refute Chat.get(author.id, …): the remote author has no chat here; the local recipient has one.
    expect(await chatOf(marisa, { account: { id: message.account_id } } as Local)).toBeDefined();
  });
});

describe("acceptsChatMessages", () => {
  test("it returns this value if it is set", async () => {
    const actorDocument = async (who: Local) => {
      const response = await fetch(uriOf(who), { headers: { accept: "application/activity+json" } });
      expect(response.status).toBe(200);
      return (await response.json()) as Json;
    };
    const trueUser = await account("true_user");
    const falseUser = await account("false_user");
    expect((await as(falseUser).patch("/api/v1/accounts/update_credentials", { accepts_chat_messages: false })).status).toBe(200);
    expect((await actorDocument(trueUser)).capabilities).toMatchObject({ acceptsChatMessages: true });
    expect((await actorDocument(falseUser)).capabilities).toMatchObject({ acceptsChatMessages: false });
  });
});

describe("PATCH /api/v1/accounts/update_credentials", () => {
  test("updates the user's chat acceptance status", async () => {
    const user = await account("user");
    // Phoenix's test conn sends the map as form parameters.
    const response = await as(user).patch("/api/v1/accounts/update_credentials", new URLSearchParams({ accepts_chat_messages: "false" }));
    expect(response.status).toBe(200);
    expect(response.body.pleroma.accepts_chat_messages).toBe(false);
  });
});
