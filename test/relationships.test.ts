import { type Account, chatHelpers } from "./helpers/chats.js";
import { linkPathsOf } from "./helpers/link-header.js";
import { api, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Relationships (`GET /api/v1/accounts/relationships`), the blocks and mutes lists with their Link
 * pagination, and what verify_credentials says of the token's own account (`source`,
 * `pleroma.unread_chat_count`), as Soapbox and Pleroma-FE read them.
 */

let parley: TestParley;
const { account, as, chatWith, send } = chatHelpers(() => parley);
const sql = () => parley.parley.deps.db.$client;

beforeAll(async () => {
  parley = await startTestParley({ role: "web" });
});
afterAll(() => parley?.close());

const RELATIONSHIP_KEYS = [
  "blocked_by",
  "blocking",
  "domain_blocking",
  "endorsed",
  "followed_by",
  "following",
  "id",
  "muting",
  "muting_notifications",
  "note",
  "notifying",
  "requested",
  "requested_by",
  "showing_reblogs",
  "subscribing",
];

const relate = (from: Account, action: string, to: Account) => as(from).post(`/api/v1/accounts/${to.account.id}/${action}`);
const linkOf = (header: string | null, rel: "next" | "prev") => linkPathsOf(header)[rel];

describe("GET /api/v1/accounts/relationships", () => {
  it("answers one Relationship per known id, in the order asked, with blocking, blocked_by and muting", async () => {
    const [me, blocked, blocker, muted, plain] = await Promise.all(["me", "blocked", "blocker", "muted", "plain"].map(account));
    expect((await relate(me, "block", blocked)).status).toBe(200);
    expect((await relate(blocker, "block", me)).status).toBe(200);
    expect((await relate(me, "mute", muted)).status).toBe(200);

    const ids = [plain, muted, blocker, blocked].map((a) => a.account.id);
    // Soapbox's shape (queries/relationships.ts): id[] repeated; an unknown id and a repeat are skipped.
    const query = [...ids, "not-an-id", ids[0]].map((id) => `id[]=${id}`).join("&");
    const response = await as(me).get(`/api/v1/accounts/relationships?${query}`);
    expect(response.status).toBe(200);
    expect(response.body.map((r: { id: string }) => r.id)).toEqual(ids);
    for (const relationship of response.body) expect(Object.keys(relationship).sort()).toEqual(RELATIONSHIP_KEYS);
    const [toPlain, toMuted, toBlocker, toBlocked] = response.body;
    expect(toPlain).toEqual({
      id: plain.account.id,
      following: false,
      showing_reblogs: false,
      notifying: false,
      followed_by: false,
      blocking: false,
      blocked_by: false,
      muting: false,
      muting_notifications: false,
      requested: false,
      requested_by: false,
      domain_blocking: false,
      endorsed: false,
      note: "",
      subscribing: false,
    });
    expect(toMuted).toMatchObject({ muting: true, muting_notifications: true, blocking: false, blocked_by: false });
    expect(toBlocker).toMatchObject({ blocked_by: true, blocking: false, muting: false });
    expect(toBlocked).toMatchObject({ blocking: true, blocked_by: false });

    // The other side sees the mirror image.
    const mirror = await as(blocked).get(`/api/v1/accounts/relationships?id[]=${me.account.id}`);
    expect(mirror.body).toEqual([expect.objectContaining({ id: me.account.id, blocked_by: true, blocking: false })]);
  });

  it("takes `id=` (single or repeated) and a single `id[]=`; no id at all answers []", async () => {
    const [me, other, third] = await Promise.all(["single", "other", "third"].map(account));
    const one = await as(me).get(`/api/v1/accounts/relationships?id=${other.account.id}`);
    expect(one.body.map((r: { id: string }) => r.id)).toEqual([other.account.id]);
    const repeated = await as(me).get(`/api/v1/accounts/relationships?id=${third.account.id}&id=${other.account.id}`);
    expect(repeated.body.map((r: { id: string }) => r.id)).toEqual([third.account.id, other.account.id]);
    // Soapbox's useRelationship (api/hooks/accounts/useRelationship.ts): one id[].
    const bracket = await as(me).get(`/api/v1/accounts/relationships?id[]=${other.account.id}`);
    expect(bracket.body.map((r: { id: string }) => r.id)).toEqual([other.account.id]);
    // Soapbox's useChats asks with an empty list before there is any chat: `relationships?`.
    const empty = await as(me).get("/api/v1/accounts/relationships?");
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual([]);
    // Pleroma-FE's fetchUserRelationship (api.service.js) puts a slash before the query.
    const slash = await as(me).get(`/api/v1/accounts/relationships/?id=${other.account.id}`);
    expect(slash.status).toBe(200);
    expect(slash.body.map((r: { id: string }) => r.id)).toEqual([other.account.id]);
  });

  it("skips deleted accounts, and remote accounts gone from their server unless with_suspended", async () => {
    const [me, doomed] = await Promise.all(["watcher", "doomed"].map(account));
    await sql()`INSERT INTO accounts (id, username, domain, uri, inbox_url, gone_at)
      VALUES ('hzzzzzzzzzzzzzzzzzzzzzzzzz', 'ghost', 'gone.example', 'https://gone.example/users/ghost', 'https://gone.example/inbox', now())`;
    expect((await api(parley.url, parley.adminToken).delete(`/api/v1/admin/accounts/${doomed.account.id}`)).status).toBe(200);
    const base = `/api/v1/accounts/relationships?id[]=hzzzzzzzzzzzzzzzzzzzzzzzzz&id[]=${doomed.account.id}`;
    expect((await as(me).get(base)).body).toEqual([]);
    const withSuspended = await as(me).get(`${base}&with_suspended=true`);
    expect(withSuspended.body.map((r: { id: string }) => r.id)).toEqual(["hzzzzzzzzzzzzzzzzzzzzzzzzz"]);
  });

  it("refuses more than 100 ids naming the field, and a bad with_suspended", async () => {
    const me = await account("many");
    const query = Array.from({ length: 101 }, (_, i) => `id[]=x${i}`).join("&");
    const response = await as(me).get(`/api/v1/accounts/relationships?${query}`);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: "invalid_request", field: "id[]" });
    const bad = await as(me).get("/api/v1/accounts/relationships?id=x&with_suspended=perhaps");
    expect(bad.body).toMatchObject({ error: "invalid_request", field: "with_suspended" });
    expect((await api(parley.url).get("/api/v1/accounts/relationships?id=x")).status).toBe(401);
  });

  it("treats odd ids as unknown, and refuses a NUL naming the field", async () => {
    const me = await account("odd");
    for (const query of ["id[]=", "id[a]=x", "id=%ED%A0%80", `id=${"x".repeat(5000)}`, "id[]=%27%3B--"]) {
      const response = await as(me).get(`/api/v1/accounts/relationships?${query}`);
      expect([query, response.status, response.body]).toEqual([query, 200, []]);
    }
    const nul = await as(me).get("/api/v1/accounts/relationships?id[]=a%00b");
    expect(nul.status).toBe(400);
    expect(nul.body).toMatchObject({ error: "invalid_request", field: expect.stringMatching(/^id\[\]/) });
  });

  it("takes an account id in the form issued before the letter ids, answering today's id", async () => {
    const [me, other] = await Promise.all(["legacy", "legacy_other"].map(account));
    const id = other.account.id;
    const legacy = `${"abcdefgh".indexOf(id[0])}${id.slice(1)}`;
    const response = await as(me).get(`/api/v1/accounts/relationships?id[]=${legacy}`);
    expect(response.body.map((r: { id: string }) => r.id)).toEqual([id]);
  });

  it("block and mute answer the same Relationship", async () => {
    const [me, other] = await Promise.all(["answer", "answered"].map(account));
    const blocked = await relate(me, "block", other);
    expect(Object.keys(blocked.body).sort()).toEqual(RELATIONSHIP_KEYS);
    expect(blocked.body).toMatchObject({ id: other.account.id, blocking: true });
    expect((await relate(me, "unblock", other)).body).toMatchObject({ blocking: false });
  });
});

describe.each(["blocks", "mutes"] as const)("GET /api/v1/%s", (list) => {
  const action = list === "blocks" ? "block" : "mute";

  it("lists the accounts most recent first, with Link pagination both ways", async () => {
    const me = await account(`${list}_owner`);
    const others = await Promise.all([1, 2, 3, 4, 5].map(() => account(`${list}_target`)));
    for (const other of others) expect((await relate(me, action, other)).status).toBe(200);
    const newestFirst = others.map((o) => o.account.id).reverse();

    const all = await as(me).get(`/api/v1/${list}`);
    expect(all.status).toBe(200);
    expect(all.body.map((a: { id: string }) => a.id)).toEqual(newestFirst);
    expect(all.body[0]).toMatchObject({ username: others[4].account.username, fields: [] });

    const first = await as(me).get(`/api/v1/${list}?limit=2`);
    expect(first.body.map((a: { id: string }) => a.id)).toEqual(newestFirst.slice(0, 2));
    const second = await as(me).get(linkOf(first.headers.get("link"), "next")!);
    expect(second.body.map((a: { id: string }) => a.id)).toEqual(newestFirst.slice(2, 4));
    const third = await as(me).get(linkOf(second.headers.get("link"), "next")!);
    expect(third.body.map((a: { id: string }) => a.id)).toEqual(newestFirst.slice(4));
    expect(linkOf(third.headers.get("link"), "next")).toBeDefined();
    const end = await as(me).get(linkOf(third.headers.get("link"), "next")!);
    expect(end.body).toEqual([]);
    // prev from the third page: the two newer ones just before it, newest first.
    const back = await as(me).get(linkOf(third.headers.get("link"), "prev")!);
    expect(back.body.map((a: { id: string }) => a.id)).toEqual(newestFirst.slice(2, 4));

    // A Link cursor holds its place when its account is let go during the walk (others[3] is the
    // last of the first page: its cursor still pages from there).
    await relate(me, `un${action}`, others[3]);
    const stillSecond = await as(me).get(linkOf(first.headers.get("link"), "next")!);
    expect(stillSecond.body.map((a: { id: string }) => a.id)).toEqual(newestFirst.slice(2, 4));
  });

  it(`pages as Pleroma-FE's fetch${list === "blocks" ? "Blocks" : "Mutes"} does: max_id = the last account's id`, async () => {
    const me = await account(`${list}_plfe`);
    const others = await Promise.all([1, 2, 3].map(() => account(`${list}_plfe_target`)));
    for (const other of others) await relate(me, action, other);
    // api.service.js: `/api/v1/<list>/?with_relationships=true`, then `&max_id=<last id>`.
    const first = await as(me).get(`/api/v1/${list}/?with_relationships=true&limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.map((a: { id: string }) => a.id)).toEqual([others[2].account.id, others[1].account.id]);
    const next = await as(me).get(`/api/v1/${list}/?with_relationships=true&limit=2&max_id=${first.body[1].id}`);
    expect(next.body.map((a: { id: string }) => a.id)).toEqual([others[0].account.id]);
  });

  it("shows only the owner's list, and refuses a bad limit", async () => {
    const [me, other, target] = await Promise.all([`${list}_a`, `${list}_b`, `${list}_c`].map(account));
    await relate(other, action, target);
    expect((await as(me).get(`/api/v1/${list}`)).body).toEqual([]);
    expect((await as(me).get(`/api/v1/${list}?limit=0`)).body).toMatchObject({ error: "invalid_request", field: "limit" });
  });
});

describe("verify_credentials", () => {
  it("has `source` as Pleroma renders it for the owner, and what Soapbox and Pleroma-FE parse", async () => {
    const me = await account("creds");
    const response = await as(me).get("/api/v1/accounts/verify_credentials");
    expect(response.status).toBe(200);
    expect(response.body.source).toEqual({
      note: "",
      fields: [],
      privacy: "public",
      sensitive: false,
      language: null,
      pleroma: { actor_type: "Person", discoverable: false },
    });
    // Soapbox's accountSchema (schemas/account.ts): `id` a string and `url` a URL, the rest has fallbacks.
    expect(typeof response.body.id).toBe("string");
    expect(() => new URL(response.body.url)).not.toThrow();
    expect(() => new URL(response.body.header)).not.toThrow();
    // Pleroma-FE's parseUser (entity_normalizer.service.js) maps `fields` and, with a source, `source.fields`.
    expect(Array.isArray(response.body.fields) && Array.isArray(response.body.source.fields)).toBe(true);
    expect(response.body.pleroma).toMatchObject({ unread_chat_count: 0, is_local: true, accepts_chat_messages: true });
    expect(response.body.fqn).toBe(`${me.account.username}@${new URL(parley.url).host}`);
    // update_credentials answers the same CredentialAccount.
    const updated = await as(me).patch("/api/v1/accounts/update_credentials", { display_name: "Cred" });
    expect(updated.body).toMatchObject({ display_name: "Cred", source: { privacy: "public" }, pleroma: { unread_chat_count: 0 } });
  });

  it("counts unread chat messages as they arrive and are read, leaving out hidden, blocked and muted chats", async () => {
    const [me, bob, carol, dave] = await Promise.all(["reader", "bob", "carol", "dave"].map(account));
    const unread = async () => (await as(me).get("/api/v1/accounts/verify_credentials")).body.pleroma.unread_chat_count;
    const fromBob = await chatWith(bob, me);
    const fromCarol = await chatWith(carol, me);
    await send(bob, fromBob, "one");
    await send(bob, fromBob, "two");
    expect(await unread()).toBe(2);
    await send(carol, fromCarol, "three");
    expect(await unread()).toBe(3);

    // Reading Bob's chat (my side of it) takes its two away.
    const myChatWithBob = await chatWith(me, bob);
    expect((await as(me).post(`/api/v1/pleroma/chats/${myChatWithBob}/read`, {})).status).toBe(200);
    expect(await unread()).toBe(1);

    // A muted or blocked counterpart's chat is not in the default list: nor in the count.
    await relate(me, "mute", carol);
    expect(await unread()).toBe(0);
    await relate(me, "unmute", carol);
    expect(await unread()).toBe(1);
    const fromDave = await chatWith(dave, me);
    await send(dave, fromDave, "four");
    expect(await unread()).toBe(2);
    await relate(me, "block", dave);
    expect(await unread()).toBe(1);

    // A hidden chat is out of the list until a new message arrives.
    const myChatWithCarol = await chatWith(me, carol);
    expect((await as(me).delete(`/api/v1/pleroma/chats/${myChatWithCarol}`)).status).toBe(200);
    expect(await unread()).toBe(0);
    await send(carol, fromCarol, "five");
    expect(await unread()).toBe(2);
  });
});
