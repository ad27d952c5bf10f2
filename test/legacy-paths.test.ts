import { readFile } from "node:fs/promises";
import { chatHelpers } from "./helpers/chats.js";
import { linksOf } from "./helpers/link-header.js";
import { api, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Pleroma's legacy paths: its LegacyPleromaApiRerouterPlug answers `/api/pleroma/*` as
 * `/api/v1/pleroma/*`. Pleroma's own admin tests call `/api/pleroma/admin/users/:nickname/chats`, and
 * older clients and scripts use `/api/pleroma/chats…`.
 */

let parley: TestParley;
const { account, as, chatWith, send } = chatHelpers(() => parley);

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
});
afterAll(() => parley.close());

describe("/api/pleroma/… answers as /api/v1/pleroma/…", () => {
  it("covers the whole chat loop: open, send, list, page, read, pin, delete, hide", async () => {
    const [alice, bob] = [await account("alice"), await account("bob")];
    const opened = await as(alice).post(`/api/pleroma/chats/by-account-id/${bob.account.id}`);
    expect(opened.status).toBe(200);
    const chatId = opened.body.id;
    expect(chatId).toBe(await chatWith(alice, bob));

    const sent = await as(alice).post(`/api/pleroma/chats/${chatId}/messages`, { content: "old path" });
    expect(sent).toMatchObject({ status: 200, body: { content: "old path", chat_id: chatId } });
    await send(alice, chatId, "new path");

    const list = await as(alice).get("/api/pleroma/chats");
    expect(list.status).toBe(200);
    expect(list.body.map((chat: { id: string }) => chat.id)).toEqual([chatId]);
    expect((await as(alice).get(`/api/pleroma/chats/${chatId}`)).body).toMatchObject({ id: chatId, last_message: { content: "new path" } });

    // The Link header of a legacy request points at the canonical path, which works the same.
    const page = await as(alice).get(`/api/pleroma/chats/${chatId}/messages?limit=1`);
    expect(page.body.map((m: { content: string }) => m.content)).toEqual(["new path"]);
    const next = linksOf(page.headers.get("link")).next!;
    expect(new URL(next).pathname).toBe(`/api/v1/pleroma/chats/${chatId}/messages`);
    expect((await as(alice).get(next)).body.map((m: { content: string }) => m.content)).toEqual(["old path"]);

    const bobChatId = (await as(bob).get("/api/pleroma/chats")).body[0].id;
    const read = await as(bob).post(`/api/pleroma/chats/${bobChatId}/read`, {});
    expect(read).toMatchObject({ status: 200, body: { unread: 0 } });
    expect((await as(bob).post(`/api/pleroma/chats/${bobChatId}/pin`)).body.pinned).toBe(true);
    expect((await as(bob).get("/api/pleroma/chats?pinned=true")).body.map((c: { id: string }) => c.id)).toEqual([bobChatId]);
    expect((await as(bob).post(`/api/pleroma/chats/${bobChatId}/unpin`)).body.pinned).toBe(false);

    const deleted = await as(alice).delete(`/api/pleroma/chats/${chatId}/messages/${sent.body.id}`);
    expect(deleted).toMatchObject({ status: 200, body: { id: sent.body.id } });
    expect((await as(alice).delete(`/api/pleroma/chats/${chatId}`)).status).toBe(200);
    expect((await as(alice).get("/api/v1/pleroma/chats")).body).toEqual([]);
  });

  it("covers the admin chat paths, with the same token rules (401, 403)", async () => {
    const [carol, dave] = [await account("carol"), await account("dave")];
    const chatId = await chatWith(carol, dave);
    const message = await send(carol, chatId, "moderate me");
    const admin = api(parley.url, parley.adminToken);
    // Pleroma's own test of the user chats listing calls this path.
    const userChats = await admin.get(`/api/pleroma/admin/users/${carol.account.username}/chats`);
    expect(userChats.status).toBe(200);
    expect(userChats.body).toHaveLength(1);
    expect(userChats.body[0]).toMatchObject({ id: chatId, sender: { id: carol.account.id }, receiver: { id: dave.account.id } });
    expect((await admin.get(`/api/pleroma/admin/chats/${chatId}`)).body).toMatchObject({ id: chatId, sender: { id: carol.account.id } });
    expect((await admin.get(`/api/pleroma/admin/chats/${chatId}/messages`)).body).toHaveLength(1);
    expect((await as(carol).get(`/api/pleroma/admin/users/${carol.account.username}/chats`)).status).toBe(403);
    expect((await api(parley.url).get(`/api/pleroma/admin/chats/${chatId}`)).status).toBe(401);
    expect((await admin.delete(`/api/pleroma/admin/chats/${chatId}/messages/${message.id}`)).status).toBe(200);
  });

  it("covers notifications/read", async () => {
    const [erin, frank] = [await account("erin"), await account("frank")];
    await send(frank, await chatWith(frank, erin), "notify");
    const [notification] = (await as(erin).get("/api/v1/notifications?include_types[]=pleroma:chat_mention")).body;
    expect(notification).toBeDefined();
    const read = await as(erin).post("/api/pleroma/notifications/read", { id: notification.id });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: notification.id, pleroma: { is_seen: true } });
  });

  it("is only a prefix rewrite: unknown legacy paths are 404, /api/v2 has no legacy form, CORS preflight works", async () => {
    const user = await account("george");
    expect(await as(user).get("/api/pleroma/nothing-here")).toMatchObject({ status: 404, body: { error: "not_found" } });
    expect((await as(user).get("/api/pleroma")).status).toBe(404);
    expect((await as(user).get("/api/pleroma/v2/chats")).status).toBe(404);
    const preflight = await fetch(new URL("/api/pleroma/chats", parley.url), { method: "OPTIONS" });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    // Without a token: the same 401 as the canonical path.
    expect(await api(parley.url).get("/api/pleroma/chats")).toMatchObject({ status: 401, body: { error: "missing_token" } });
  });
});

describe("documentation", () => {
  it("says so in the OpenAPI document and the README", async () => {
    const doc = (await api(parley.url).get("/api/openapi")).body;
    expect(doc.info.description).toContain("/api/pleroma/");
    const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
    expect(readme).toContain("/api/pleroma/");
  });
});
