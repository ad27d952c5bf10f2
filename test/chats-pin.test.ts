import { chatHelpers } from "./helpers/chats.js";
import { linksOf } from "./helpers/link-header.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";
import { isChatUpdate, openStream, streamingUrl, subscribe } from "./helpers/streaming.js";

/**
 * Pleroma 2.10's chat pins (its ChatController pin/unpin and `restrict_pinned`): `pinned` in every
 * Chat JSON, `POST …/chats/:id/pin|unpin`, and `?pinned=true|false` on the v1 and v2 lists.
 */

let parley: TestParley;
const { account, as, chatWith, send } = chatHelpers(() => parley);

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
});
afterAll(() => parley.close());

const ids = (chats: { id: string }[]) => chats.map((chat) => chat.id);

describe("pin and unpin", () => {
  it("pins and unpins a chat, answering the Chat JSON with `pinned`", async () => {
    const [owner, other] = [await account("owner"), await account("other")];
    const chatId = await chatWith(owner, other);
    const opened = await as(owner).post(`/api/v1/pleroma/chats/by-account-id/${other.account.id}`);
    expect(opened.body.pinned).toBe(false);

    const pinned = await as(owner).post(`/api/v1/pleroma/chats/${chatId}/pin`);
    expect(pinned.status).toBe(200);
    expect(pinned.body).toMatchObject({ id: chatId, pinned: true, account: { id: other.account.id } });
    expect((await as(owner).get(`/api/v1/pleroma/chats/${chatId}`)).body.pinned).toBe(true);
    // Pinning twice is harmless.
    expect((await as(owner).post(`/api/v1/pleroma/chats/${chatId}/pin`)).body.pinned).toBe(true);

    const unpinned = await as(owner).post(`/api/v1/pleroma/chats/${chatId}/unpin`);
    expect(unpinned.status).toBe(200);
    expect(unpinned.body).toMatchObject({ id: chatId, pinned: false });
    expect((await as(owner).get(`/api/v1/pleroma/chats/${chatId}`)).body.pinned).toBe(false);
  });

  it("is the owner's own mark: the other side's chat stays unpinned", async () => {
    const [owner, other] = [await account("mine"), await account("theirs")];
    const chatId = await chatWith(owner, other);
    await send(owner, chatId, "hello");
    await as(owner).post(`/api/v1/pleroma/chats/${chatId}/pin`);
    const theirs = await as(other).get("/api/v1/pleroma/chats");
    expect(theirs.body).toHaveLength(1);
    expect(theirs.body[0].pinned).toBe(false);
  });

  it("answers 404 for an unknown chat, a malformed id and someone else's chat, changing nothing", async () => {
    const [owner, other, stranger] = [await account("p404"), await account("q404"), await account("s404")];
    const chatId = await chatWith(owner, other);
    for (const action of ["pin", "unpin"]) {
      expect((await as(owner).post(`/api/v1/pleroma/chats/01jzzzzzzzzzzzzzzzzzzzzzzz/${action}`)).status).toBe(404);
      expect((await as(owner).post(`/api/v1/pleroma/chats/not-an-id/${action}`)).body).toEqual({ error: "not_found" });
      expect((await as(stranger).post(`/api/v1/pleroma/chats/${chatId}/${action}`)).status).toBe(404);
    }
    expect((await as(owner).get(`/api/v1/pleroma/chats/${chatId}`)).body.pinned).toBe(false);
  });

  it("needs a user token", async () => {
    const [owner, other] = [await account("anon"), await account("anon2")];
    const chatId = await chatWith(owner, other);
    const response = await fetch(new URL(`/api/v1/pleroma/chats/${chatId}/pin`, parley.url), { method: "POST" });
    expect(response.status).toBe(401);
  });
});

describe("?pinned= on the lists", () => {
  it("lists only pinned chats with pinned=true and only the others with pinned=false, on v1 and v2", async () => {
    const owner = await account("lister");
    const [a, b, c] = [await account("la"), await account("lb"), await account("lc")];
    const [chatA, chatB, chatC] = [await chatWith(owner, a), await chatWith(owner, b), await chatWith(owner, c)];
    for (const chatId of [chatA, chatB, chatC]) await send(owner, chatId, "hi");
    await as(owner).post(`/api/v1/pleroma/chats/${chatA}/pin`);
    await as(owner).post(`/api/v1/pleroma/chats/${chatC}/pin`);

    for (const path of ["/api/v1/pleroma/chats", "/api/v2/pleroma/chats"]) {
      const only = await as(owner).get(`${path}?pinned=true`);
      expect(only.status).toBe(200);
      // Most recent first, as the whole list.
      expect(ids(only.body)).toEqual([chatC, chatA]);
      expect(only.body.every((chat: { pinned: boolean }) => chat.pinned)).toBe(true);
      const others = await as(owner).get(`${path}?pinned=false`);
      expect(ids(others.body)).toEqual([chatB]);
      expect(others.body[0].pinned).toBe(false);
      // Without the filter: every chat, in the usual order (pins are not moved first, as in Pleroma).
      const all = await as(owner).get(path);
      expect(ids(all.body)).toEqual([chatC, chatB, chatA]);
      expect(all.body.map((chat: { pinned: boolean }) => chat.pinned)).toEqual([true, false, true]);
      // Forms and query strings send booleans as 1/0 too.
      expect(ids((await as(owner).get(`${path}?pinned=1`)).body)).toEqual([chatC, chatA]);
      const bad = await as(owner).get(`${path}?pinned=maybe`);
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ error: "invalid_request", field: "pinned" });
    }
  });

  it("pages the pinned chats of v2 with Link cursors that keep the filter", async () => {
    const owner = await account("pager");
    const chatIds: string[] = [];
    for (let i = 0; i < 5; i++) {
      const other = await account(`pp${i}`);
      const chatId = await chatWith(owner, other);
      await send(owner, chatId, `m${i}`);
      if (i % 2 === 0) await as(owner).post(`/api/v1/pleroma/chats/${chatId}/pin`);
      chatIds.push(chatId);
    }
    const first = await as(owner).get("/api/v2/pleroma/chats?pinned=true&limit=2");
    expect(ids(first.body)).toEqual([chatIds[4], chatIds[2]]);
    const next = linksOf(first.headers.get("link")).next!;
    expect(new URL(next).searchParams.get("pinned")).toBe("true");
    const second = await as(owner).get(next);
    expect(ids(second.body)).toEqual([chatIds[0]]);
  });

  it("does not bump the chat: the order stays that of the last messages", async () => {
    const owner = await account("order");
    const [a, b] = [await account("oa"), await account("ob")];
    const [older, newer] = [await chatWith(owner, a), await chatWith(owner, b)];
    await send(owner, older, "first");
    await send(owner, newer, "second");
    const before = await as(owner).get(`/api/v1/pleroma/chats/${older}`);
    await as(owner).post(`/api/v1/pleroma/chats/${older}/pin`);
    const after = await as(owner).get(`/api/v1/pleroma/chats/${older}`);
    expect(after.body.updated_at).toBe(before.body.updated_at);
    expect(ids((await as(owner).get("/api/v2/pleroma/chats")).body)).toEqual([newer, older]);
  });

  it("keeps a pinned chat hidden by DELETE out of the pinned list until a new message", async () => {
    const [owner, other] = [await account("hider"), await account("hidden")];
    const chatId = await chatWith(owner, other);
    const theirChat = await chatWith(other, owner);
    await send(other, theirChat, "ping");
    await as(owner).post(`/api/v1/pleroma/chats/${chatId}/pin`);
    await as(owner).delete(`/api/v1/pleroma/chats/${chatId}`);
    expect((await as(owner).get("/api/v1/pleroma/chats?pinned=true")).body).toEqual([]);
    await send(other, theirChat, "back");
    const again = await as(owner).get("/api/v1/pleroma/chats?pinned=true");
    expect(ids(again.body)).toEqual([chatId]);
    expect(again.body[0].pinned).toBe(true);
  });
});

describe("pinned in streamed chats", () => {
  it("carries `pinned` in the pleroma:chat_update payload of a new message", async () => {
    const [owner, other] = [await account("streamer"), await account("sender")];
    const chatId = await chatWith(owner, other);
    await as(owner).post(`/api/v1/pleroma/chats/${chatId}/pin`);
    const client = await openStream(streamingUrl(parley.url, { access_token: owner.token }));
    try {
      await subscribe(client, "user:pleroma_chat");
      const theirChat = (await as(other).post(`/api/v1/pleroma/chats/by-account-id/${owner.account.id}`)).body.id;
      await send(other, theirChat, "are you there?");
      const frame = await client.next(isChatUpdate("user:pleroma_chat"), 10_000, "chat update");
      expect(JSON.parse(frame.payload)).toMatchObject({ id: chatId, pinned: true, last_message: { content: "are you there?" } });
    } finally {
      client.close();
    }
  });
});
