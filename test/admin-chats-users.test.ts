import { chatHelpers } from "./helpers/chats.js";
import { api, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * `GET /api/v1/pleroma/admin/users/:nickname/chats` (Pleroma's AdminAPIController.list_user_chats,
 * rendered by its AdminAPI.ChatView: `sender` and `receiver` instead of `account`), and the answers
 * of the admin API to a user's token (403, as Pleroma's staff plugs) and to no or a bad token (401).
 */

let parley: TestParley;
const { account, as, chatWith, send } = chatHelpers(() => parley);
const admin = () => api(parley.url, parley.adminToken);

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
});
afterAll(() => parley.close());

describe("GET /api/v1/pleroma/admin/users/:nickname/chats", () => {
  it("lists every chat of the user, most recent first, with sender and receiver", async () => {
    const user = await account("watched");
    const [a, b, c] = [await account("ra"), await account("rb"), await account("rc")];
    const chats = [await chatWith(user, a), await chatWith(user, b), await chatWith(user, c)];
    // The same sequence as Pleroma's test: the user writes to three accounts.
    for (const chatId of chats) await send(user, chatId, "yo");
    await send(b, await chatWith(b, user), "back to you");

    const response = await admin().get(`/api/v1/pleroma/admin/users/${user.account.username}/chats`);
    expect(response.status).toBe(200);
    expect(response.body.map((chat: { id: string }) => chat.id)).toEqual([chats[1], chats[2], chats[0]]);
    const [latest] = response.body;
    expect(latest).toMatchObject({
      id: chats[1],
      sender: { id: user.account.id, username: user.account.username },
      receiver: { id: b.account.id },
      unread: 1,
      pinned: false,
      last_message: { content: "back to you", account_id: b.account.id },
      updated_at: expect.any(String),
    });
    expect(latest.account).toBeUndefined();
  });

  it("takes the account id or `name@our-host` as the nickname too, and names in any case", async () => {
    const [user, other] = [await account("byid"), await account("byid_other")];
    const chatId = await chatWith(user, other);
    const host = new URL(parley.url).host;
    for (const nickname of [user.account.id, `${user.account.username}@${host}`, user.account.username.toUpperCase()]) {
      const response = await admin().get(`/api/v1/pleroma/admin/users/${encodeURIComponent(nickname)}/chats`);
      expect(response.status).toBe(200);
      expect(response.body.map((chat: { id: string }) => chat.id)).toEqual([chatId]);
    }
  });

  it("includes what the user's own lists leave out: hidden chats, blocked and muted counterparts", async () => {
    const user = await account("hiding");
    const [hidden, blocked, muted] = [await account("hid"), await account("blk"), await account("mut")];
    const chats = [await chatWith(user, hidden), await chatWith(user, blocked), await chatWith(user, muted)];
    await as(user).delete(`/api/v1/pleroma/chats/${chats[0]}`);
    await as(user).post(`/api/v1/accounts/${blocked.account.id}/block`);
    await as(user).post(`/api/v1/accounts/${muted.account.id}/mute`);
    expect((await as(user).get("/api/v1/pleroma/chats")).body).toEqual([]);
    const response = await admin().get(`/api/v1/pleroma/admin/users/${user.account.username}/chats`);
    expect(response.body.map((chat: { id: string }) => chat.id).sort()).toEqual([...chats].sort());
  });

  it("answers [] for an account without chats and for a cached remote account", async () => {
    const lonely = await account("lonely");
    expect((await admin().get(`/api/v1/pleroma/admin/users/${lonely.account.username}/chats`)).body).toEqual([]);
    // A remote actor known here (as after a message from it): it owns no chat on this server.
    const remoteId = "0aaaaaaaaaaaaaaaaaaaaaaaaa";
    await parley.parley.deps.db.$client`
      INSERT INTO accounts (id, username, domain, uri) VALUES (${remoteId}, 'Faraway', 'remote.example', 'https://remote.example/users/faraway')`;
    const remote = await admin().get("/api/v1/pleroma/admin/users/faraway@REMOTE.example/chats");
    expect(remote).toMatchObject({ status: 200, body: [] });
  });

  it("answers 404 for an unknown nickname, a deleted account and an unknown remote one", async () => {
    const gone = await account("gone");
    expect((await admin().delete(`/api/v1/admin/accounts/${gone.account.id}`)).status).toBe(200);
    for (const nickname of ["nobody", gone.account.username, "nobody@elsewhere.example", "a@b@c", "01jzzzzzzzzzzzzzzzzzzzzzzz"]) {
      const response = await admin().get(`/api/v1/pleroma/admin/users/${encodeURIComponent(nickname)}/chats`);
      expect({ nickname, status: response.status, body: response.body }).toEqual({ nickname, status: 404, body: { error: "not_found" } });
    }
  });
});

describe("admin routes and tokens", () => {
  it("answer 403 to a valid user token (Pleroma's 'not a staff member'), on every admin route", async () => {
    const [user, other] = [await account("notstaff"), await account("notstaff_other")];
    const chatId = await chatWith(user, other);
    const message = await send(user, chatId, "hi");
    const userApi = as(user);
    const answers = [
      await userApi.get(`/api/v1/pleroma/admin/users/${user.account.username}/chats`),
      await userApi.get(`/api/v1/pleroma/admin/chats/${chatId}`),
      await userApi.get(`/api/v1/pleroma/admin/chats/${chatId}/messages`),
      await userApi.delete(`/api/v1/pleroma/admin/chats/${chatId}/messages/${message.id}`),
      await userApi.post("/api/v1/admin/accounts", { username: "sneaky" }),
      await userApi.post(`/api/v1/admin/accounts/${user.account.id}/tokens`),
      await userApi.get("/api/v1/admin/domain_blocks"),
      await userApi.delete("/api/v1/admin/custom_emojis/blob"),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(403);
      expect(answer.body).toMatchObject({ error: "forbidden", message: expect.stringContaining("ADMIN_TOKEN") });
    }
    // Nothing happened: the message is still there, no account was created.
    expect((await as(other).get("/api/v1/pleroma/chats")).body[0].last_message.content).toBe("hi");
    const [{ n }] = await parley.parley.deps.db.$client`SELECT count(*)::int AS n FROM accounts WHERE username = 'sneaky'`;
    expect(n).toBe(0);
  });

  it("answer 401 without a token or with an unknown one", async () => {
    const path = "/api/v1/pleroma/admin/users/anyone/chats";
    expect(await api(parley.url).get(path)).toMatchObject({ status: 401, body: { error: "missing_token" } });
    expect(await api(parley.url, "not-a-token").get(path)).toMatchObject({ status: 401, body: { error: "invalid_token" } });
  });

  it("answer 401 to the token of a deleted account (no longer a user's token)", async () => {
    const user = await account("deleted_user");
    await admin().delete(`/api/v1/admin/accounts/${user.account.id}`);
    expect((await as(user).get("/api/v1/pleroma/admin/users/anyone/chats")).status).toBe(401);
  });

  it("document the 403 in the OpenAPI document", async () => {
    const doc = (await api(parley.url).get("/api/openapi")).body;
    const operation = doc.paths["/api/v1/pleroma/admin/users/{nickname}/chats"].get;
    expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(["200", "401", "403", "404"]));
    expect(doc.paths["/api/v1/pleroma/chats/{id}"].get.responses["403"]).toBeUndefined();
  });

  it("leave the queue dashboard as it was: a user's token gets its 401 and Basic challenge", async () => {
    const user = await account("dashboard");
    const response = await fetch(new URL("/admin/queues", parley.url), { headers: { authorization: `Bearer ${user.token}` } });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/^Basic /);
  });
});
