import { eventually, type Json, pleromaChatMessage, stored } from "./helpers/inbox.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";

/**
 * Remote content bounded at the door (issue 13), through a signed inbox POST and the API. The
 * bounds themselves (emoji names, URLs, descriptions, blurhashes, dimensions): test/unit/remote-content-bounds.test.ts.
 */

const HOSTILE_NAME = 'x" onerror="alert`1`" y="';

const emoji = (name: string, url = "https://e.example/e.png") => ({ type: "Emoji", name, icon: { type: "Image", url } });
const image = (fields: Json = {}) => ({ type: "Document", mediaType: "image/png", url: "https://m.example/a.png", ...fields });

describe("through the inbox", () => {
  const LIMIT = 1000;
  let parley: TestParley;
  let remote: RemoteServer;
  let sender: RemoteActor;
  let bob: Awaited<ReturnType<typeof createAccount>>;
  let bobUri: string;

  beforeAll(async () => {
    [parley, remote] = await Promise.all([startTestParley({ env: { REMOTE_MESSAGE_LIMIT: String(LIMIT) } }), startRemoteServer()]);
    sender = remote.actor("mallory", { capabilities: { acceptsChatMessages: true } });
    bob = await createAccount(parley, "bob");
    bobUri = `${parley.url}/users/bob`;
  });
  afterAll(async () => {
    await Promise.all([parley?.close(), remote?.close()]);
  });

  /** Bob's message from the sender whose content contains `text`, once the worker applied it. */
  const messageWith = (text: string) =>
    eventually(
      async () => {
        const chats = (await api(parley.url, bob.token).get("/api/v1/pleroma/chats")).body as Json[];
        const chat = chats.find((c) => c.account.uri === sender.id);
        const messages = chat ? ((await api(parley.url, bob.token).get(`/api/v1/pleroma/chats/${chat.id}/messages`)).body as Json[]) : [];
        return messages.find((m) => typeof m.content === "string" && m.content.includes(text));
      },
      10_000,
      `a message with ${text}`,
    );

  it("a hostile Create reaches the API bounded: no emoji name markup, no image, description cut, blurhash and size dropped", async () => {
    const activity = pleromaChatMessage(sender, bobUri, {
      content: `<p>hostile :${HOSTILE_NAME}: :blob: <img class="emoji" src="http://127.0.0.1:1/e.png" alt=":blob:"></p>`,
      tag: [emoji(`:${HOSTILE_NAME}:`, `${remote.url}/emoji/x.png`), emoji(":blob:", `${remote.url}/emoji/blob.png`)],
      attachment: image({ url: `${remote.url}/media/a.png`, name: "d".repeat(50_000), blurhash: "<script>", width: 1e6, height: 1e6 }),
    });
    expect((await signedPost(`${parley.url}/users/bob/inbox`, activity, sender)).status).toBe(202);
    const message = await messageWith("hostile");
    expect(message.emojis).toEqual([expect.objectContaining({ shortcode: "blob" })]);
    for (const e of message.emojis as Json[]) expect(e.shortcode).toMatch(/^[A-Za-z0-9_]+$/);
    expect(message.content).not.toMatch(/<img|onerror="|"/);
    expect(message.content).toBe(`<p>hostile :x&quot; onerror=&quot;alert\`1\`&quot; y=&quot;: :blob: </p>`);
    expect(message.attachment).toMatchObject({ url: `${remote.url}/media/a.png`, blurhash: null, meta: {} });
    expect(message.attachment.description).toHaveLength(1_500);
  });

  it("content whose sanitized form exceeds REMOTE_MESSAGE_LIMIT is refused content_too_long, nothing stored", async () => {
    // Compared by activities: those accepted before may still be turning into messages.
    const before = (await stored(parley)).inbox;
    // 400 characters as sent, 2,400 once its quotes are escaped; then 1,000 `&`, 5,000 escaped.
    for (const content of ['"'.repeat(400), "&".repeat(LIMIT)]) {
      const activity = pleromaChatMessage(sender, bobUri, { content });
      const response = await signedPost(`${parley.url}/users/bob/inbox`, activity, sender);
      expect(response.status).toBe(422);
      expect(JSON.parse(response.body)).toEqual({ error: "invalid_chat_message", reason: "content_too_long" });
    }
    expect((await stored(parley)).inbox).toBe(before);
    // At the limit once sanitized: accepted.
    const fits = pleromaChatMessage(sender, bobUri, { content: `fits ${"y".repeat(LIMIT - 5)}` });
    expect((await signedPost(`${parley.url}/users/bob/inbox`, fits, sender)).status).toBe(202);
    expect((await messageWith("fits")).content).toHaveLength(LIMIT);
  });

  it("a message stored before the bounds renders without its hostile emoji and image", async () => {
    const activity = pleromaChatMessage(sender, bobUri, { content: "stored before" });
    expect((await signedPost(`${parley.url}/users/bob/inbox`, activity, sender)).status).toBe(202);
    await messageWith("stored before");
    const sql = parley.parley.deps.db.$client;
    const oldEmojis = [
      { shortcode: HOSTILE_NAME, url: `${remote.url}/x.png`, static_url: `${remote.url}/x.png`, visible_in_picker: false },
    ];
    const oldAttachment = {
      id: "old",
      type: "image",
      url: `${remote.url}/a.png`,
      description: "d".repeat(5_000),
      blurhash: "x",
      meta: { original: { width: 1e6, height: 1e6 } },
    };
    await sql`UPDATE messages SET content = ${'<p>stored long ago <img class="emoji" src="http://127.0.0.1:1/e.png" /></p>'},
      emojis = ${JSON.stringify(oldEmojis)}::jsonb, remote_attachment = ${JSON.stringify(oldAttachment)}::jsonb WHERE uri = ${activity.object.id}`;
    const message = await messageWith("stored long ago");
    expect(message.content).toBe("<p>stored long ago </p>");
    expect(message.emojis).toEqual([]);
    expect(message.attachment).toMatchObject({ description: "d".repeat(1_500), blurhash: null, meta: {} });
  });
});
