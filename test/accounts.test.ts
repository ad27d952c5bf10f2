import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

let parley: TestParley;
beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
});
afterAll(() => parley.close());

describe("admin API", () => {
  it("creates an account with a working token", async () => {
    const { account, token } = await createAccount(parley, "Alice_1", { display_name: "Alice" });
    expect(account).toMatchObject({
      username: "Alice_1",
      acct: "Alice_1",
      display_name: "Alice",
      pleroma: { accepts_chat_messages: true },
    });
    const me = await api(parley.url, token).get("/api/v1/accounts/verify_credentials");
    expect(me.status).toBe(200);
    expect(me.body.id).toBe(account.id);
  });

  it("refuses a taken username case-insensitively with 409", async () => {
    await createAccount(parley, "taken");
    const response = await api(parley.url, parley.adminToken).post("/api/v1/admin/accounts", { username: "TAKEN" });
    expect(response.status).toBe(409);
    expect(response.body).toEqual({ error: "username_taken" });
  });

  it.each(["", "with space", "a".repeat(31), "dash-name", "ünï"])("refuses username %j with 422", async (username) => {
    const response = await api(parley.url, parley.adminToken).post("/api/v1/admin/accounts", { username });
    expect(response.status).toBe(422);
    expect(response.body).toEqual({ error: "invalid_username" });
  });

  it("names the field when the body is malformed", async () => {
    const response = await api(parley.url, parley.adminToken).post("/api/v1/admin/accounts", { username: 42 });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: "invalid_request", field: "username" });
  });

  it("answers 401 without or with a wrong admin token", async () => {
    expect((await api(parley.url).post("/api/v1/admin/accounts", { username: "x" })).status).toBe(401);
    const wrong = await api(parley.url, "not-the-admin-token").post("/api/v1/admin/accounts", { username: "x" });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe("invalid_token");
    // A user's token is not an admin token: known, but not allowed (403, as Pleroma's staff check).
    const { token } = await createAccount(parley, "notadmin");
    expect((await api(parley.url, token).post("/api/v1/admin/accounts", { username: "y" })).status).toBe(403);
  });

  it("issues more tokens, and deletes an account with its tokens", async () => {
    const { account, token } = await createAccount(parley, "tokens");
    const issued = await api(parley.url, parley.adminToken).post(`/api/v1/admin/accounts/${account.id}/tokens`);
    expect(issued.status).toBe(201);
    expect(issued.body.access_token).toEqual(expect.any(String));
    expect((await api(parley.url, issued.body.access_token).get("/api/v1/accounts/verify_credentials")).status).toBe(200);

    const deleted = await api(parley.url, parley.adminToken).delete(`/api/v1/admin/accounts/${account.id}`);
    expect(deleted.status).toBe(200);
    expect((await api(parley.url, token).get("/api/v1/accounts/verify_credentials")).status).toBe(401);
    expect((await api(parley.url, parley.adminToken).delete(`/api/v1/admin/accounts/${account.id}`)).status).toBe(404);
    expect((await api(parley.url, parley.adminToken).post(`/api/v1/admin/accounts/nope/tokens`)).status).toBe(404);
  });

  it("stores tokens hashed", async () => {
    const { token } = await createAccount(parley, "hashed");
    const rows = await parley.parley.deps.db.$client`SELECT token_hash FROM access_tokens`;
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.some((r) => r.token_hash === token)).toBe(false);
  });
});

describe("user API", () => {
  let alice: Awaited<ReturnType<typeof createAccount>>;
  let bob: Awaited<ReturnType<typeof createAccount>>;
  beforeAll(async () => {
    alice = await createAccount(parley, "ualice");
    bob = await createAccount(parley, "ubob");
  });

  it("answers 401 without a token or with a bad one", async () => {
    const none = await api(parley.url).get("/api/v1/accounts/verify_credentials");
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ error: "missing_token" });
    expect((await api(parley.url, "bad").get("/api/v1/accounts/verify_credentials")).body).toEqual({ error: "invalid_token" });
  });

  it("shows an account by id, 404 for unknown ids", async () => {
    const response = await api(parley.url, alice.token).get(`/api/v1/accounts/${bob.account.id}`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: bob.account.id, username: "ubob", url: `${parley.url}/users/ubob` });
    expect((await api(parley.url, alice.token).get("/api/v1/accounts/01jzzzzzzzzzzzzzzzzzzzzzzz")).status).toBe(404);
    expect((await api(parley.url, alice.token).get("/api/v1/accounts/'; drop table accounts")).status).toBe(404);
  });

  it("looks up local names, with or without our host", async () => {
    const a = api(parley.url, alice.token);
    expect((await a.get("/api/v1/accounts/lookup?acct=ubob")).body.id).toBe(bob.account.id);
    expect((await a.get("/api/v1/accounts/lookup?acct=UBOB")).body.id).toBe(bob.account.id);
    const host = new URL(parley.url).host;
    expect((await a.get(`/api/v1/accounts/lookup?acct=ubob@${host}`)).body.id).toBe(bob.account.id);
    expect((await a.get("/api/v1/accounts/lookup?acct=nobody")).status).toBe(404);
    // A NUL is refused with the field named (PostgreSQL would refuse it in the query: a 500).
    for (const acct of ["ub%00ob", `ub%00ob@${host}`]) {
      const refused = await a.get(`/api/v1/accounts/lookup?acct=${acct}`);
      expect([refused.status, refused.body.field]).toEqual([400, "acct"]);
    }
    // The C2S outbox reads its owner from the path, before the federation bridge's NUL check.
    const outbox = await api(parley.url, alice.token).post("/users/ub%00ob/outbox", { type: "Note" });
    expect(outbox.status).toBe(404);
    const missing = await a.get("/api/v1/accounts/lookup");
    expect(missing.status).toBe(400);
    expect(missing.body.field).toBe("acct");
  });

  it("updates display name and chat acceptance", async () => {
    const a = api(parley.url, alice.token);
    const updated = await a.patch("/api/v1/accounts/update_credentials", { display_name: "Alice A", accepts_chat_messages: false });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ display_name: "Alice A", pleroma: { accepts_chat_messages: false } });
    const form = await a.patch("/api/v1/accounts/update_credentials", new URLSearchParams({ accepts_chat_messages: "true" }));
    expect(form.body.pleroma.accepts_chat_messages).toBe(true);
    const bad = await a.patch("/api/v1/accounts/update_credentials", { accepts_chat_messages: "maybe" });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe("accepts_chat_messages");
  });

  it("blocks, unblocks, mutes and unmutes, answering a Relationship", async () => {
    const a = api(parley.url, alice.token);
    expect((await a.post(`/api/v1/accounts/${bob.account.id}/block`)).body).toMatchObject({ id: bob.account.id, blocking: true });
    expect((await api(parley.url, bob.token).post(`/api/v1/accounts/${alice.account.id}/mute`)).body).toMatchObject({
      blocked_by: true,
      muting: true,
    });
    expect((await a.post(`/api/v1/accounts/${bob.account.id}/unblock`)).body.blocking).toBe(false);
    expect((await api(parley.url, bob.token).post(`/api/v1/accounts/${alice.account.id}/unmute`)).body.muting).toBe(false);
    expect((await a.post("/api/v1/accounts/nobody/block")).status).toBe(404);
    expect((await a.post(`/api/v1/accounts/${alice.account.id}/block`)).status).toBe(404);
  });
});

describe("admin domain blocks", () => {
  it("adds, lists, shows and lifts a block", async () => {
    const admin = api(parley.url, parley.adminToken);
    const created = await admin.post("/api/v1/admin/domain_blocks", { domain: "Spam.Example:8443" });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ domain: "spam.example:8443", severity: "suspend" });
    expect((await admin.get("/api/v1/admin/domain_blocks")).body.map((b: { domain: string }) => b.domain)).toContain("spam.example:8443");
    expect((await admin.get(`/api/v1/admin/domain_blocks/${created.body.id}`)).body.id).toBe(created.body.id);

    const again = await admin.post("/api/v1/admin/domain_blocks", { domain: "spam.example:8443" });
    expect(again.status).toBe(422);
    expect(again.body).toMatchObject({ error: "domain_already_blocked", field: "domain" });

    expect((await admin.delete(`/api/v1/admin/domain_blocks/${created.body.id}`)).status).toBe(200);
    expect((await admin.get(`/api/v1/admin/domain_blocks/${created.body.id}`)).status).toBe(404);
    expect((await admin.delete(`/api/v1/admin/domain_blocks/${created.body.id}`)).status).toBe(404);
  });

  it("refuses what is not a host name, naming the field", async () => {
    for (const domain of ["", "http://x.example", "a b", "x.example/path"]) {
      const response = await api(parley.url, parley.adminToken).post("/api/v1/admin/domain_blocks", { domain });
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ error: "invalid_request", field: "domain" });
    }
  });

  it("is admin-only", async () => {
    const { token } = await createAccount(parley, "dbuser");
    expect((await api(parley.url, token).get("/api/v1/admin/domain_blocks")).status).toBe(403);
  });
});

describe("request bodies", () => {
  it("authenticates before reading the body: bad JSON without a token is a 401", async () => {
    const send = (token?: string) =>
      fetch(`${parley.url}/api/v1/admin/accounts`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: "{not json",
      });
    expect((await send()).status).toBe(401);
    const withToken = await send(parley.adminToken);
    expect(withToken.status).toBe(400);
    expect(await withToken.json()).toMatchObject({ error: "invalid_json" });
  });

  it("refuses bodies over 1 MiB with 413", async () => {
    const response = await api(parley.url, parley.adminToken).post("/api/v1/admin/accounts", { username: "x".repeat(1_100_000) });
    expect(response.status).toBe(413);
    expect(response.body).toEqual({ error: "payload_too_large" });
  });
});
