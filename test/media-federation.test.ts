import { eventually } from "./helpers/inbox.js";
import { png, upload, uploadEmoji } from "./helpers/media.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Media and custom emoji between two instances over loopback: alice on A sends bob on B an image
 * (with and without text) and a `:blob:` emoji uploaded on A by its admin. B shows the attachment
 * with A's URL (never copied to B's disk) and the emoji from the `Emoji` tag.
 *
 * A remote `Emoji` tag whose icon is not http(s) (`javascript:`, `data:`) is refused at the inbox
 * with 422 `invalid_chat_message` / `bad_emoji`: test/inbox-rules.test.ts covers it with signed
 * requests from a test remote server.
 */

let a: TestParley;
let b: TestParley;
let alice: Awaited<ReturnType<typeof createAccount>>;
let bob: Awaited<ReturnType<typeof createAccount>>;

beforeAll(async () => {
  [a, b] = await Promise.all([startTestParley(), startTestParley()]);
  [alice, bob] = await Promise.all([createAccount(a, "alice"), createAccount(b, "bob")]);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

async function aliceChatWithBob(): Promise<string> {
  const found = await api(a.url, alice.token).get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(`${b.url}/users/bob`)}`);
  expect(found.status).toBe(200);
  const chat = await api(a.url, alice.token).post(`/api/v1/pleroma/chats/by-account-id/${found.body.id}`);
  return chat.body.id;
}

/** Bob's view of the message whose text or attachment satisfies `match`, once it has arrived. */
async function onB(match: (message: any) => boolean, what: string) {
  return eventually(
    async () => {
      const chats = (await api(b.url, bob.token).get("/api/v1/pleroma/chats")).body;
      if (!chats[0]) return undefined;
      const messages = (await api(b.url, bob.token).get(`/api/v1/pleroma/chats/${chats[0].id}/messages`)).body;
      return messages.find(match);
    },
    10_000,
    what,
  );
}

it("an image sent from A arrives on B with its attachment: type image, A's URL, the description", async () => {
  const chatId = await aliceChatWithBob();
  const file = png(6, 4);
  const uploaded = await upload(a.url, alice.token, file, "photo.png", { description: "a small test image" });
  expect(uploaded.status).toBe(200);
  const sent = await api(a.url, alice.token).post(`/api/v1/pleroma/chats/${chatId}/messages`, {
    content: "see this",
    media_id: uploaded.body.id,
  });
  expect(sent.status).toBe(200);
  expect(sent.body.attachment).toEqual(uploaded.body);

  const received = await onB((m) => m.content === "see this", "the image message on B");
  expect(received.attachment).toMatchObject({
    type: "image",
    url: uploaded.body.url,
    remote_url: uploaded.body.url,
    description: "a small test image",
    meta: { original: { width: 6, height: 4 } },
    pleroma: { mime_type: "image/png" },
  });
  expect(received.attachment.url.startsWith(`${a.url}/media/`)).toBe(true);
  // B links to A's file, which A serves to anyone.
  const fetched = await fetch(received.attachment.url);
  expect(fetched.headers.get("content-type")).toBe("image/png");
  expect(Buffer.from(await fetched.arrayBuffer())).toEqual(file);
});

it("an attachment-only message arrives with content null", async () => {
  const chatId = await aliceChatWithBob();
  const uploaded = await upload(a.url, alice.token, png(2, 2), "p.png");
  const sent = await api(a.url, alice.token).post(`/api/v1/pleroma/chats/${chatId}/messages`, { media_id: uploaded.body.id });
  expect(sent.body).toMatchObject({ content: null, attachment: { id: uploaded.body.id } });
  const received = await onB((m) => m.attachment?.url === uploaded.body.url, "the attachment-only message on B");
  expect(received).toMatchObject({ content: null, attachment: { type: "image", description: null } });
});

it(":blob: uploaded on A shows as an emoji in the message JSON on both sides", async () => {
  const emoji = await uploadEmoji(a.url, a.adminToken, "blob", png(16, 16));
  expect(emoji.status).toBe(201);
  const chatId = await aliceChatWithBob();
  const sent = await api(a.url, alice.token).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "hi :blob:" });
  const expected = [{ shortcode: "blob", url: emoji.body.url, static_url: emoji.body.url, visible_in_picker: false }];
  expect(sent.body.emojis).toEqual(expected);
  const received = await onB((m) => m.content === "hi :blob:", "the emoji message on B");
  expect(received.emojis).toEqual(expected);
  // B knows no :blob: of its own.
  expect((await api(b.url).get("/api/v1/custom_emojis")).body).toEqual([]);
});
