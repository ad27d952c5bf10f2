import { chatHelpers } from "./helpers/chats.js";
import { linkPathsOf } from "./helpers/link-header.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Soapbox's unread-chats badge. Its useChats (src/queries/chats.ts, getChats) loads
 * /api/v2/pleroma/chats page by page through the Link `next` URL and, after every page, sets the
 * badge to `Number(X-Unread-Messages-Count) || the sum of that page's chat.unread`. Its chat list
 * asks for the next page as soon as the end of the list is visible (Virtuoso's endReached), so a
 * short list is followed by the empty page its `next` link points to: without the header the badge
 * fell to 0 there (found by running Soapbox's own code against Parley).
 */

let parley: TestParley;
const { account, as, chatWith, send } = chatHelpers(() => parley);

beforeAll(async () => {
  parley = await startTestParley({ role: "web" });
});
afterAll(() => parley?.close());

const nextOf = (header: string | null) => linkPathsOf(header).next;

/** The badge after each page, as getChats computes it. */
async function badgesWhilePaging(who: Parameters<typeof as>[0]) {
  const badges: number[] = [];
  let uri: string | undefined = "/api/v2/pleroma/chats";
  while (uri) {
    const response = await as(who).get(uri);
    expect(response.status).toBe(200);
    const page = response.body as { unread: number }[];
    badges.push(Number(response.headers.get("x-unread-messages-count")) || page.reduce((n, c) => n + c.unread, 0));
    uri = nextOf(response.headers.get("link"));
    if (page.length === 0) break;
  }
  return badges;
}

describe("Soapbox's chat list badge (useChats)", () => {
  it("keeps the total unread on every page, the empty one after the last `next` included", async () => {
    const [me, ...others] = await Promise.all(["reader", "w1", "w2", "w3"].map(account));
    for (const [i, other] of others.entries()) {
      const chat = await chatWith(other, me);
      for (let k = 0; k <= i; k++) await send(other, chat, `hello ${k}`);
    }
    const badges = await badgesWhilePaging(me);
    expect(badges.length).toBeGreaterThanOrEqual(2); // the list page, then the empty page `next` names
    expect(badges).toEqual(badges.map(() => 6));

    // v1 carries the same header; after a read (markChatAsRead) it is the new total.
    const [firstChat] = (await as(me).get("/api/v2/pleroma/chats")).body as { id: string; unread: number }[];
    expect((await as(me).post(`/api/v1/pleroma/chats/${firstChat.id}/read`)).status).toBe(200);
    const v1 = await as(me).get("/api/v1/pleroma/chats");
    expect(v1.headers.get("x-unread-messages-count")).toBe(String(6 - firstChat.unread));
    expect(await badgesWhilePaging(me)).toEqual(badges.map(() => 6 - firstChat.unread));
  });

  it("spans pages: with 23 chats the badge is the whole total on page 1, page 2 and the empty page", async () => {
    const me = await account("busy");
    const others = await Promise.all(Array.from({ length: 23 }, (_, i) => account(`p${i}`)));
    for (const other of others) await send(other, await chatWith(other, me), "hi");
    const badges = await badgesWhilePaging(me);
    expect(badges).toEqual([23, 23, 23]);
  });

  it("is 0 when nothing is unread, and browsers may read it (exposed to CORS)", async () => {
    const [me, other] = await Promise.all([account("calm"), account("quiet")]);
    await send(me, await chatWith(me, other), "only mine");
    const response = await as(me).get("/api/v2/pleroma/chats");
    expect(response.headers.get("x-unread-messages-count")).toBe("0");
    expect(response.headers.get("access-control-expose-headers")).toContain("X-Unread-Messages-Count");
  });
});
