import { chatHelpers } from "./helpers/chats.js";
import { linkPathsOf } from "./helpers/link-header.js";
import { api, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * `GET /api/v1/notifications` and friends: `pleroma:chat_mention` only when asked (Pleroma's rule),
 * Mastodon pagination, dismiss and clear, muted and blocked senders, other accounts' ids.
 */

let instance: TestParley;
const { account, as, chatWith, send } = chatHelpers(() => instance);
const CHAT_MENTIONS = "include_types[]=pleroma:chat_mention";

beforeAll(async () => {
  instance = await startTestParley({ queue: "postgres" });
});
afterAll(() => instance?.close());

describe("notifications", () => {
  it("need a token", async () => {
    expect((await api(instance.url).get("/api/v1/notifications")).status).toBe(401);
    expect((await api(instance.url, "bad").get("/api/v1/notifications")).status).toBe(401);
    expect((await api(instance.url).post("/api/v1/notifications/clear")).status).toBe(401);
  });

  it("list chat mentions only when include_types[] (or types[]) asks for them, in Pleroma's shape", async () => {
    const [reader, writer] = await Promise.all([account("reader"), account("writer")]);
    const chatId = await chatWith(writer, reader);
    const sent = await send(writer, chatId, "hello reader");

    expect((await as(reader).get("/api/v1/notifications")).body).toEqual([]);
    // The sender gets none for their own message.
    expect((await as(writer).get(`/api/v1/notifications?${CHAT_MENTIONS}`)).body).toEqual([]);

    const listed = await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}`);
    expect(listed.status).toBe(200);
    expect(listed.body).toHaveLength(1);
    const [notification] = listed.body;
    const readerChat = (await as(reader).get("/api/v1/pleroma/chats")).body[0];
    expect(notification).toEqual({
      id: expect.any(String),
      group_key: `ungrouped-${notification.id}`,
      type: "pleroma:chat_mention",
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      account: expect.objectContaining({ id: writer.account.id, acct: writer.account.username }),
      pleroma: { is_seen: false, is_muted: false },
      chat_message: expect.objectContaining({ chat_id: readerChat.id, account_id: writer.account.id, content: sent.content, unread: true }),
    });
    // The reader's reference to the message, as their chat shows it.
    expect(notification.chat_message).toEqual(readerChat.last_message);

    for (const query of [
      "types[]=pleroma:chat_mention",
      "include_types=pleroma:chat_mention",
      "types[]=mention&types[]=pleroma:chat_mention",
    ]) {
      expect((await as(reader).get(`/api/v1/notifications?${query}`)).body.map((n: { id: string }) => n.id)).toEqual([notification.id]);
    }
    expect((await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}&exclude_types[]=pleroma:chat_mention`)).body).toEqual([]);
    expect((await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}&account_id=${reader.account.id}`)).body).toEqual([]);
    expect((await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}&account_id=${writer.account.id}`)).body).toHaveLength(1);

    const one = await as(reader).get(`/api/v1/notifications/${notification.id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual(notification);
  });

  it("page newest first with max_id, min_id, since_id, limit and a Link header that keeps include_types[]", async () => {
    const [reader, writer] = await Promise.all([account("pager"), account("paged")]);
    const chatId = await chatWith(writer, reader);
    for (let i = 1; i <= 5; i++) await send(writer, chatId, `message ${i}`);
    const contents = (list: { chat_message: { content: string } }[]) => list.map((n) => n.chat_message.content);

    const all = await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}`);
    expect(contents(all.body)).toEqual(["message 5", "message 4", "message 3", "message 2", "message 1"]);
    const ids = all.body.map((n: { id: string }) => n.id);

    const first = await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}&limit=2`);
    expect(contents(first.body)).toEqual(["message 5", "message 4"]);
    const firstLinks = linkPathsOf(first.headers.get("link"));
    expect(firstLinks.next).toContain(`max_id=${ids[1]}`);
    expect(firstLinks.next).toContain("include_types%5B%5D=pleroma%3Achat_mention");

    const second = await as(reader).get(firstLinks.next);
    expect(contents(second.body)).toEqual(["message 3", "message 2"]);
    const third = await as(reader).get(linkPathsOf(second.headers.get("link")).next);
    expect(contents(third.body)).toEqual(["message 1"]);
    const beyond = await as(reader).get(linkPathsOf(third.headers.get("link")).next);
    expect(beyond.body).toEqual([]);
    expect(beyond.headers.get("link")).toBeNull();

    // prev from the second page gives the first page's newer neighbours (min_id: the nearest ones).
    const back = await as(reader).get(linkPathsOf(second.headers.get("link")).prev);
    expect(contents(back.body)).toEqual(["message 5", "message 4"]);
    const minId = await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}&min_id=${ids[4]}&limit=2`);
    expect(contents(minId.body)).toEqual(["message 3", "message 2"]);
    const sinceId = await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}&since_id=${ids[4]}&limit=2`);
    expect(contents(sinceId.body)).toEqual(["message 5", "message 4"]);
    expect((await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}&limit=0`)).status).toBe(400);
  });

  it("dismiss one, clear all; other accounts' ids are 404", async () => {
    const [reader, writer, stranger] = await Promise.all([account("dismisser"), account("sender"), account("stranger")]);
    const chatId = await chatWith(writer, reader);
    await send(writer, chatId, "one");
    await send(writer, chatId, "two");
    await send(writer, chatId, "three");
    const strangerChat = await chatWith(writer, stranger);
    await send(writer, strangerChat, "for the stranger");
    const [own] = (await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}`)).body;
    const [theirs] = (await as(stranger).get(`/api/v1/notifications?${CHAT_MENTIONS}`)).body;

    // Another account's notification: not visible, not dismissable.
    expect((await as(reader).get(`/api/v1/notifications/${theirs.id}`)).status).toBe(404);
    expect((await as(reader).post(`/api/v1/notifications/${theirs.id}/dismiss`)).status).toBe(404);
    expect((await as(reader).get("/api/v1/notifications/not-an-id")).status).toBe(404);
    expect((await as(reader).post("/api/v1/notifications/not-an-id/dismiss")).status).toBe(404);

    const dismissed = await as(reader).post(`/api/v1/notifications/${own.id}/dismiss`);
    expect(dismissed.status).toBe(200);
    expect(dismissed.body).toEqual({});
    expect((await as(reader).get(`/api/v1/notifications/${own.id}`)).status).toBe(404);
    expect((await as(reader).post(`/api/v1/notifications/${own.id}/dismiss`)).status).toBe(404);
    expect((await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}`)).body).toHaveLength(2);
    // The message itself stays.
    expect((await as(reader).get(`/api/v1/pleroma/chats`)).body[0]).toMatchObject({ unread: 3 });

    const cleared = await as(reader).post("/api/v1/notifications/clear");
    expect(cleared.status).toBe(200);
    expect(cleared.body).toEqual({});
    expect((await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}`)).body).toEqual([]);
    // Nobody else's were touched.
    expect((await as(stranger).get(`/api/v1/notifications?${CHAT_MENTIONS}`)).body).toHaveLength(1);
    expect((await as(stranger).get(`/api/v1/notifications/${theirs.id}`)).status).toBe(200);
  });

  it("from a muted sender: born seen, is_muted, listed only with_muted (as Pleroma); from a blocked sender: none", async () => {
    const [reader, muted, blocked] = await Promise.all([account("muter"), account("muted"), account("blocked")]);
    expect((await as(reader).post(`/api/v1/accounts/${muted.account.id}/mute`)).status).toBe(200);
    const mutedChat = await chatWith(muted, reader);
    await send(muted, mutedChat, "from a muted sender");

    expect((await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}`)).body).toEqual([]);
    const withMuted = await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}&with_muted=true`);
    expect(withMuted.body).toHaveLength(1);
    expect(withMuted.body[0]).toMatchObject({
      account: { id: muted.account.id },
      pleroma: { is_seen: true, is_muted: true },
      chat_message: { content: "from a muted sender" },
    });
    expect((await as(reader).get(`/api/v1/notifications/${withMuted.body[0].id}`)).body.pleroma).toEqual({ is_seen: true, is_muted: true });

    // Unmuted: listed, still seen (it was born seen), no longer muted.
    expect((await as(reader).post(`/api/v1/accounts/${muted.account.id}/unmute`)).status).toBe(200);
    const unmuted = await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}`);
    expect(unmuted.body.map((n: { pleroma: unknown }) => n.pleroma)).toEqual([{ is_seen: true, is_muted: false }]);

    // A blocked sender's message is refused, so no notification; an older one is no longer listed.
    const blockedChat = await chatWith(blocked, reader);
    await send(blocked, blockedChat, "before the block");
    expect((await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}&account_id=${blocked.account.id}`)).body).toHaveLength(1);
    expect((await as(reader).post(`/api/v1/accounts/${blocked.account.id}/block`)).status).toBe(200);
    const refused = await as(blocked).post(`/api/v1/pleroma/chats/${blockedChat}/messages`, { content: "after the block" });
    expect(refused.status).toBe(422);
    expect((await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}&account_id=${blocked.account.id}`)).body).toEqual([]);
    expect(
      (await instance.parley.deps.db.$client`SELECT count(*)::int AS n FROM notifications WHERE from_account_id = ${blocked.account.id}`)[0]
        .n,
    ).toBe(1);
  });

  it("are marked seen by Pleroma's notifications/read (one by id, or all up to max_id)", async () => {
    const [reader, writer] = await Promise.all([account("seer"), account("seen")]);
    const chatId = await chatWith(writer, reader);
    for (const text of ["a", "b", "c"]) await send(writer, chatId, text);
    const [c, b, a] = (await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}`)).body;

    const one = await as(reader).post("/api/v1/pleroma/notifications/read", { id: a.id });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: a.id, pleroma: { is_seen: true } });
    const upTo = await as(reader).post("/api/v1/pleroma/notifications/read", { max_id: b.id });
    expect(upTo.body.map((n: { id: string }) => n.id)).toEqual([b.id]);
    const seen = (await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}`)).body.map(
      (n: { id: string; pleroma: { is_seen: boolean } }) => [n.id, n.pleroma.is_seen],
    );
    expect(seen).toEqual([
      [c.id, false],
      [b.id, true],
      [a.id, true],
    ]);
    expect((await as(reader).post("/api/v1/pleroma/notifications/read", {})).status).toBe(400);
  });

  // Pleroma-FE (develop, April 2025): src/modules/notifications.js markNotificationsAsSeen and
  // markSingleNotificationAsSeen call api.service.js markNotificationsAsSeen, which posts a FormData
  // (multipart) body: `max_id` = the store's maxId, or `id` for one. Its store keys notifications by
  // parseInt(id), which is NaN for our ids, so the maxId it holds stays 0.
  it("are marked seen by Pleroma-FE's multipart markNotificationsAsSeen, max_id 0 marking nothing", async () => {
    const [reader, writer] = await Promise.all([account("fe_reader"), account("fe_writer")]);
    const chatId = await chatWith(writer, reader);
    for (const text of ["one", "two", "three"]) await send(writer, chatId, text);
    const [third, second, first] = (await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}`)).body;
    const form = (fields: Record<string, string>) => {
      const body = new FormData();
      for (const [key, value] of Object.entries(fields)) body.append(key, value);
      return body;
    };

    const none = await as(reader).post("/api/v1/pleroma/notifications/read", form({ max_id: "0" }));
    expect(none.status).toBe(200);
    expect(none.body).toEqual([]);

    const single = await as(reader).post("/api/v1/pleroma/notifications/read", form({ id: first.id }));
    expect(single.status).toBe(200);
    expect(single.body).toMatchObject({ id: first.id, pleroma: { is_seen: true } });

    const upTo = await as(reader).post("/api/v1/pleroma/notifications/read", form({ max_id: second.id }));
    expect(upTo.status).toBe(200);
    expect(upTo.body.map((n: { id: string }) => n.id)).toEqual([second.id]);
    const seen = (await as(reader).get(`/api/v1/notifications?${CHAT_MENTIONS}`)).body.map(
      (n: { id: string; pleroma: { is_seen: boolean } }) => [n.id, n.pleroma.is_seen],
    );
    expect(seen).toEqual([
      [third.id, false],
      [second.id, true],
      [first.id, true],
    ]);
    // An empty multipart form names what is missing, as the JSON one does.
    const empty = await as(reader).post("/api/v1/pleroma/notifications/read", new FormData());
    expect(empty.status).toBe(400);
    expect(empty.body).toMatchObject({ error: "invalid_request", field: "id" });
  });
});
