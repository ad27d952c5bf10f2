import { type Account, chatHelpers } from "./helpers/chats.js";
import { png, upload } from "./helpers/media.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * The attachment of a message as each client sends it: Pleroma-FE's `media_id`, Soapbox's `media_ids`
 * (with `media_id` beside it when there is exactly one), and forms' `media_ids[]`. A message takes one
 * attachment: more is refused with `422 too_many_attachments` and nothing is written, never sent
 * without them.
 */

let parley: TestParley;
const { account, as, chatWith } = chatHelpers(() => parley);

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
});
afterAll(() => parley.close());

async function uploaded(who: Account, name = "picture.png"): Promise<string> {
  const response = await upload(parley.url, who.token, png(2, 2), name);
  expect(response.status).toBe(200);
  return response.body.id;
}

async function messageCount(): Promise<number> {
  const [{ n }] = await parley.parley.deps.db.$client`SELECT count(*)::int AS n FROM messages`;
  return n;
}

async function pair(prefix: string) {
  const [sender, recipient] = [await account(prefix), await account(`${prefix}_to`)];
  return { sender, recipient, chatId: await chatWith(sender, recipient) };
}

describe("Soapbox (src/queries/chats.ts, useChatActions → createChatMessage)", () => {
  it("sends one attachment as media_id plus media_ids: [id]; the recipient sees it", async () => {
    const { sender, recipient, chatId } = await pair("soapbox");
    const mediaId = await uploaded(sender);
    // chat.tsx passes the composer's attachments; with one, media_id carries it too (its Pleroma compat).
    const sent = await as(sender).post(`/api/v1/pleroma/chats/${chatId}/messages`, {
      content: "",
      media_id: mediaId,
      media_ids: [mediaId],
    });
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ content: null, attachment: { id: mediaId, type: "image" } });
    const theirs = await as(recipient).get("/api/v1/pleroma/chats");
    expect(theirs.body[0].last_message).toMatchObject({ id: expect.any(String), attachment: { id: mediaId } });
  });

  it("sends text without attachments as media_ids: [] (media_id left out)", async () => {
    const { sender, chatId } = await pair("soapbox_text");
    const sent = await as(sender).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "just words", media_ids: [] });
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ content: "just words", attachment: null });
  });

  it("refuses two attachments with 422 too_many_attachments, writing nothing, and the text is not sent alone", async () => {
    const { sender, recipient, chatId } = await pair("soapbox_two");
    const [first, second] = [await uploaded(sender), await uploaded(sender)];
    const before = await messageCount();
    const refused = await as(sender).post(
      `/api/v1/pleroma/chats/${chatId}/messages`,
      { content: "two pictures", media_ids: [first, second] },
      { "Idempotency-Key": "soapbox-two" },
    );
    expect(refused.status).toBe(422);
    expect(refused.body).toEqual({ error: "too_many_attachments", field: "media_ids", limit: 1 });
    expect(await messageCount()).toBe(before);
    expect((await as(recipient).get("/api/v1/pleroma/chats")).body).toEqual([]);
    // The refusal did not take the Idempotency-Key: the corrected request goes through under it.
    const retried = await as(sender).post(
      `/api/v1/pleroma/chats/${chatId}/messages`,
      { content: "one picture", media_id: first, media_ids: [first] },
      { "Idempotency-Key": "soapbox-two" },
    );
    expect(retried.status).toBe(200);
    expect(retried.headers.get("idempotent-replayed")).toBeNull();
    expect(retried.body).toMatchObject({ content: "one picture", attachment: { id: first } });
  });

  it("accepts media_ids alone with one id", async () => {
    const { sender, chatId } = await pair("ids_alone");
    const mediaId = await uploaded(sender);
    const sent = await as(sender).post(`/api/v1/pleroma/chats/${chatId}/messages`, { media_ids: [mediaId] });
    expect(sent.status).toBe(200);
    expect(sent.body.attachment.id).toBe(mediaId);
  });
});

describe("Pleroma-FE (src/services/api/api.service.js sendChatMessage, from chat.js sendMessage)", () => {
  it("sends media_id with an Idempotency-Key, and a retry is a replay of the same message", async () => {
    const { sender, recipient, chatId } = await pair("pleromafe");
    const mediaId = await uploaded(sender);
    // sendMessage takes media[0] as params.mediaId; the text may be empty.
    const body = { content: "", media_id: mediaId };
    const headers = { "idempotency-key": "pfe-key-1" };
    const sent = await as(sender).post(`/api/v1/pleroma/chats/${chatId}/messages`, body, headers);
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ attachment: { id: mediaId }, idempotency_key: "pfe-key-1" });
    const replay = await as(sender).post(`/api/v1/pleroma/chats/${chatId}/messages`, body, headers);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body.id).toBe(sent.body.id);
    const theirs = await as(recipient).get(
      `/api/v1/pleroma/chats/${(await as(recipient).get("/api/v1/pleroma/chats")).body[0].id}/messages`,
    );
    expect(theirs.body).toHaveLength(1);
    expect(theirs.body[0].attachment.id).toBe(mediaId);
  });
});

describe("media_ids: the refusals", () => {
  it("refuses media_id with a different media_ids as two attachments", async () => {
    const { sender, chatId } = await pair("conflict");
    const [first, second] = [await uploaded(sender), await uploaded(sender)];
    const before = await messageCount();
    const refused = await as(sender).post(`/api/v1/pleroma/chats/${chatId}/messages`, {
      content: "which?",
      media_id: first,
      media_ids: [second],
    });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ error: "too_many_attachments", field: "media_ids" });
    const both = await as(sender).post(`/api/v1/pleroma/chats/${chatId}/messages`, { media_id: first, media_ids: [first, second] });
    expect(both.status).toBe(422);
    expect(await messageCount()).toBe(before);
  });

  it("refuses the same id twice (two attachments asked for)", async () => {
    const { sender, chatId } = await pair("twice");
    const mediaId = await uploaded(sender);
    const refused = await as(sender).post(`/api/v1/pleroma/chats/${chatId}/messages`, { media_ids: [mediaId, mediaId] });
    expect(refused).toMatchObject({ status: 422, body: { error: "too_many_attachments" } });
  });

  it("names media_ids when its one id is someone else's upload, and a malformed list", async () => {
    const { sender, chatId } = await pair("foreign");
    const othersMedia = await uploaded(await account("owner_of_media"));
    const refused = await as(sender).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "look", media_ids: [othersMedia] });
    expect(refused).toMatchObject({ status: 400, body: { error: "forbidden", field: "media_ids" } });
    const viaMediaId = await as(sender).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "look", media_id: othersMedia });
    expect(viaMediaId).toMatchObject({ status: 400, body: { error: "forbidden", field: "media_id" } });
    const malformed = await as(sender).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "x", media_ids: [42] });
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({ error: "invalid_request", field: expect.stringMatching(/^media_ids/) });
    const notAList = await as(sender).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "x", media_ids: { a: 1 } });
    expect(notAList).toMatchObject({ status: 400, body: { error: "invalid_request", field: "media_ids" } });
  });

  it("answers 404 for an unknown chat before looking at the attachments", async () => {
    const sender = await account("nochat");
    const response = await as(sender).post("/api/v1/pleroma/chats/01jzzzzzzzzzzzzzzzzzzzzzzz/messages", { media_ids: ["a", "b"] });
    expect(response.status).toBe(404);
  });
});

describe("form bodies", () => {
  it("takes media_ids[] from a urlencoded form, one or several", async () => {
    const { sender, chatId } = await pair("urlencoded");
    const [first, second] = [await uploaded(sender), await uploaded(sender)];
    const one = await as(sender).post(
      `/api/v1/pleroma/chats/${chatId}/messages`,
      new URLSearchParams([
        ["content", "form"],
        ["media_ids[]", first],
      ]),
    );
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ content: "form", attachment: { id: first } });
    const two = await as(sender).post(
      `/api/v1/pleroma/chats/${chatId}/messages`,
      new URLSearchParams([
        ["media_ids[]", first],
        ["media_ids[]", second],
      ]),
    );
    expect(two).toMatchObject({ status: 422, body: { error: "too_many_attachments", field: "media_ids" } });
  });

  it("takes media_ids[] from a multipart form, one or several", async () => {
    const { sender, chatId } = await pair("multipart");
    const [first, second] = [await uploaded(sender), await uploaded(sender)];
    const form = new FormData();
    form.append("content", "multipart");
    form.append("media_ids[]", first);
    const one = await as(sender).post(`/api/v1/pleroma/chats/${chatId}/messages`, form);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ content: "multipart", attachment: { id: first } });
    const twoForm = new FormData();
    twoForm.append("media_ids[]", first);
    twoForm.append("media_ids[]", second);
    const two = await as(sender).post(`/api/v1/pleroma/chats/${chatId}/messages`, twoForm);
    expect(two).toMatchObject({ status: 422, body: { error: "too_many_attachments" } });
  });
});
