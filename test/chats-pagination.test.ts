import { type Account, chatHelpers } from "./helpers/chats.js";
import { linksOf } from "./helpers/link-header.js";
import { type ApiResponse, startTestParley, type TestParley } from "./helpers/parley.js";

/** Keyset pagination of messages and of v2 chats, and the Link headers that walk it. */

let parley: TestParley;
const { account, as, chatWith, send } = chatHelpers(() => parley);

/** `{next, prev}` URLs of a Link header; a header names both. */
function links(headers: Headers): { next?: string; prev?: string } {
  const out = linksOf(headers.get("link"));
  if (headers.get("link")) expect(Object.keys(out).sort()).toEqual(["next", "prev"]);
  return out;
}

/** Follows `rel` links from `start` until an empty page; returns the pages (each as ids). */
async function walk(who: Account, start: string, rel: "next" | "prev"): Promise<string[][]> {
  const pages: string[][] = [];
  let url: string | undefined = start;
  while (url) {
    const response: ApiResponse = await as(who).get(url);
    expect(response.status).toBe(200);
    if (response.body.length === 0) {
      expect(response.headers.get("link")).toBeNull();
      break;
    }
    pages.push(response.body.map((item: { id: string }) => item.id));
    url = links(response.headers)[rel];
    expect(url?.startsWith(parley.url)).toBe(true);
    expect(pages.length).toBeLessThan(50);
  }
  return pages;
}

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
});
afterAll(() => parley.close());

describe("messages", () => {
  let alice: Account;
  let bob: Account;
  let chatId: string;
  /** Alice's message ids, oldest first. */
  let ids: string[];
  beforeAll(async () => {
    [alice, bob] = [await account("alice"), await account("bob")];
    chatId = await chatWith(alice, bob);
    ids = [];
    for (let i = 0; i < 45; i++) ids.push((await send(alice, chatId, `m${i}`)).id);
  });
  const base = () => `/api/v1/pleroma/chats/${chatId}/messages`;
  const newestFirst = () => [...ids].reverse();

  it("answers the newest 20 by default, with working next and prev links", async () => {
    const response = await as(alice).get(base());
    expect(response.body.map((m: any) => m.id)).toEqual(newestFirst().slice(0, 20));
    expect(response.body.map((m: any) => m.content).slice(0, 2)).toEqual(["m44", "m43"]);
    const { next, prev } = links(response.headers);
    expect(new URL(next!).searchParams.get("max_id")).toBe(ids[25]);
    expect(new URL(prev!).searchParams.get("min_id")).toBe(ids[44]);
    expect((await as(alice).get(prev!)).body).toEqual([]);
  });

  it("clamps limit to 40 and refuses limits below 1 or not numbers", async () => {
    expect((await as(alice).get(`${base()}?limit=1000`)).body).toHaveLength(40);
    expect((await as(alice).get(`${base()}?limit=3`)).body.map((m: any) => m.id)).toEqual(newestFirst().slice(0, 3));
    for (const bad of ["0", "-1", "abc", "1.5", ""]) {
      const response = await as(alice).get(`${base()}?limit=${bad}`);
      expect([bad, response.status, response.body.error, response.body.field]).toEqual([bad, 400, "invalid_request", "limit"]);
    }
    // Unknown parameters are ignored.
    expect((await as(alice).get(`${base()}?limit=2&whatever=1`)).body).toHaveLength(2);
  });

  it("walks every message exactly once with next links, and back with prev links", async () => {
    const forward = await walk(alice, `${base()}?limit=10`, "next");
    expect(forward.map((page) => page.length)).toEqual([10, 10, 10, 10, 5]);
    expect(forward.flat()).toEqual(newestFirst());

    // Back from the oldest page: each prev page is the next newer slice, newest first.
    const oldest = await as(alice).get(`${base()}?limit=10&max_id=${ids[5]}`);
    expect(oldest.body.map((m: any) => m.id)).toEqual(newestFirst().slice(40));
    const backward = await walk(alice, links(oldest.headers).prev!, "prev");
    expect(backward.map((page) => page.length)).toEqual([10, 10, 10, 10]);
    for (const page of backward) expect(page).toEqual([...page].sort().reverse());
    expect([...backward].reverse().flat()).toEqual(newestFirst().slice(0, 40));

    // The prev link of a later page carries no stale max_id (Pleroma's P5).
    const second = await as(alice).get(links((await as(alice).get(`${base()}?limit=10`)).headers).next!);
    const prev = new URL(links(second.headers).prev!);
    expect(prev.searchParams.get("max_id")).toBeNull();
    expect(prev.searchParams.get("limit")).toBe("10");
    expect((await as(alice).get(prev.href)).body.map((m: any) => m.id)).toEqual(newestFirst().slice(0, 10));
  });

  it("distinguishes min_id (nearest above) from since_id (newest above), and combines cursors", async () => {
    const min = await as(alice).get(`${base()}?min_id=${ids[5]}&limit=3`);
    expect(min.body.map((m: any) => m.id)).toEqual([ids[8], ids[7], ids[6]]);
    const since = await as(alice).get(`${base()}?since_id=${ids[5]}&limit=3`);
    expect(since.body.map((m: any) => m.id)).toEqual([ids[44], ids[43], ids[42]]);
    const range = await as(alice).get(`${base()}?max_id=${ids[10]}&since_id=${ids[6]}`);
    expect(range.body.map((m: any) => m.id)).toEqual([ids[9], ids[8], ids[7]]);
    const empty = await as(alice).get(`${base()}?max_id=${ids[0]}`);
    expect(empty.body).toEqual([]);
    expect(empty.headers.get("link")).toBeNull();
  });

  it("pages the recipient's own references the same way", async () => {
    const bobChat = await chatWith(bob, alice);
    const pages = await walk(bob, `/api/v1/pleroma/chats/${bobChat}/messages?limit=40`, "next");
    expect(pages.map((p) => p.length)).toEqual([40, 5]);
    const bobIds = pages.flat();
    expect(new Set(bobIds).size).toBe(45);
    expect(bobIds.some((id) => ids.includes(id))).toBe(false);
  });
});

describe("v2 chats", () => {
  let alice: Account;
  let friends: Account[];
  /** Chat ids in the order v1 lists them (most recently updated first). */
  let order: string[];
  beforeAll(async () => {
    alice = await account("popular");
    friends = await Promise.all(Array.from({ length: 25 }, (_, i) => account(`friend${i}`)));
    const chatIds: string[] = [];
    for (const friend of friends) chatIds.push(await chatWith(alice, friend));
    // Bump chats out of creation order: every third one gets a message, oldest first.
    for (let i = 0; i < chatIds.length; i += 3) await send(alice, chatIds[i], "bump");
    order = ((await as(alice).get("/api/v1/pleroma/chats")).body as any[]).map((c) => c.id);
    expect(order).toHaveLength(25);
    expect(order).not.toEqual([...chatIds].reverse());
    expect(order.slice(0, 3)).toEqual([chatIds[24], chatIds[21], chatIds[18]]);
  });

  it("answers the most recently updated first, like v1", async () => {
    const response = await as(alice).get("/api/v2/pleroma/chats");
    expect(response.status).toBe(200);
    expect(response.body.map((c: any) => c.id)).toEqual(order.slice(0, 20));
    expect(response.body[0]).toMatchObject({ account: { id: expect.any(String) }, unread: 0, last_message: { content: "bump" } });
    const dates = response.body.map((c: any) => Date.parse(c.updated_at));
    expect(dates).toEqual([...dates].sort((a: number, b: number) => b - a));
  });

  it("walks every chat exactly once with next links, and back with prev links", async () => {
    const forward = await walk(alice, "/api/v2/pleroma/chats?limit=7", "next");
    expect(forward.map((page) => page.length)).toEqual([7, 7, 7, 4]);
    expect(forward.flat()).toEqual(order);
    const last = await as(alice).get("/api/v2/pleroma/chats?limit=7");
    let url = links(last.headers).next!;
    for (let i = 0; i < 2; i++) url = links((await as(alice).get(url)).headers).next!;
    const tail = await as(alice).get(url);
    expect(tail.body.map((c: any) => c.id)).toEqual(order.slice(21));
    const backward = await walk(alice, links(tail.headers).prev!, "prev");
    expect([...backward].reverse().flat()).toEqual(order.slice(0, 21));
  });

  it("never skips or repeats a chat when chats are bumped during the walk", async () => {
    const first = await as(alice).get("/api/v2/pleroma/chats?limit=7");
    const page1: string[] = first.body.map((c: any) => c.id);
    // Bump the last chat of page 1 (the next link's cursor) and a chat not yet seen.
    const cursorChat = page1[6];
    const unseen = order[15];
    await send(alice, cursorChat, "bumped cursor");
    await send(alice, unseen, "bumped unseen");
    const rest = (await walk(alice, links(first.headers).next!, "next")).flat();
    const seen = [...page1, ...rest];
    expect(new Set(seen).size).toBe(seen.length);
    expect(rest).toEqual(order.slice(7).filter((id) => id !== unseen));
    // What moved above the first page is what its prev link brings.
    const newer = await as(alice).get(links(first.headers).prev!);
    expect(newer.body.map((c: any) => c.id)).toEqual([unseen, cursorChat]);
    order = ((await as(alice).get("/api/v1/pleroma/chats")).body as any[]).map((c) => c.id);
    expect(order.slice(0, 2)).toEqual([unseen, cursorChat]);
  });

  it("accepts a chat id as cursor, and since_id answers the newest above it", async () => {
    const byId = await as(alice).get(`/api/v2/pleroma/chats?max_id=${order[9]}&limit=3`);
    expect(byId.body.map((c: any) => c.id)).toEqual(order.slice(10, 13));
    const min = await as(alice).get(`/api/v2/pleroma/chats?min_id=${order[9]}&limit=3`);
    expect(min.body.map((c: any) => c.id)).toEqual(order.slice(6, 9));
    const since = await as(alice).get(`/api/v2/pleroma/chats?since_id=${order[9]}&limit=3`);
    expect(since.body.map((c: any) => c.id)).toEqual(order.slice(0, 3));
    for (const bad of ["0", "abc"]) {
      const response = await as(alice).get(`/api/v2/pleroma/chats?limit=${bad}`);
      expect([response.status, response.body.field]).toEqual([400, "limit"]);
    }
    // Another account's chat id is no cursor for alice.
    const other = await chatWith(friends[0], friends[1]);
    const foreign = await as(alice).get(`/api/v2/pleroma/chats?max_id=${other}`);
    expect(foreign.status).toBe(200);
    expect(foreign.body).toEqual([]);
  });

  it("hides blocked counterparts always and muted ones unless with_muted", async () => {
    const [blocked, muted] = [friends[3], friends[4]];
    const blockedChat = await chatWith(alice, blocked);
    const mutedChat = await chatWith(alice, muted);
    await as(alice).post(`/api/v1/accounts/${blocked.account.id}/block`);
    await as(alice).post(`/api/v1/accounts/${muted.account.id}/mute`);
    const ids = async (path: string) => ((await as(alice).get(path)).body as any[]).map((c) => c.id);
    for (const path of ["/api/v1/pleroma/chats", "/api/v2/pleroma/chats?limit=40"]) {
      expect(await ids(path)).toHaveLength(23);
      expect(await ids(path)).not.toContain(blockedChat);
      expect(await ids(path)).not.toContain(mutedChat);
      const withMuted = await ids(`${path}${path.includes("?") ? "&" : "?"}with_muted=true`);
      expect(withMuted).toContain(mutedChat);
      expect(withMuted).not.toContain(blockedChat);
    }
    const paged = await walk(alice, "/api/v2/pleroma/chats?limit=5&with_muted=true", "next");
    expect(paged.flat()).toHaveLength(24);
    expect((await as(alice).get("/api/v2/pleroma/chats?with_muted=maybe")).body.field).toBe("with_muted");
    await as(alice).post(`/api/v1/accounts/${blocked.account.id}/unblock`);
    await as(alice).post(`/api/v1/accounts/${muted.account.id}/unmute`);
    expect(await ids("/api/v1/pleroma/chats")).toHaveLength(25);
  });
});
