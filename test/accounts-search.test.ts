import { linksOf } from "./helpers/link-header.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteServer, startRemoteServer } from "./helpers/remote.js";

/**
 * Finding people: `GET /api/v1/accounts/search` and `GET /api/v2/search` — local and cached remote
 * accounts by name, `name@host` and display name, `resolve=true` through WebFinger on a remote
 * server played by the test, and the "start a chat" sequences of Soapbox and Pleroma-FE.
 */

let parley: TestParley;
let remote: RemoteServer;
let remoteHost: string;
let viewer: Awaited<ReturnType<typeof createAccount>>;

beforeAll(async () => {
  [parley, remote] = await Promise.all([
    startTestParley({ role: "web" }),
    startRemoteServer({ webfinger: true, nodeinfo: { software: "pleroma" } }),
  ]);
  remoteHost = new URL(remote.url).host;
  viewer = await createAccount(parley, "viewer");
  await createAccount(parley, "Sam_Local", { display_name: "Samwise Gamgee" });
  await createAccount(parley, "samantha", { display_name: "Sam C" });
  await createAccount(parley, "frodo", { display_name: "Mr. Underhill" });
  await createAccount(parley, "percent_1", { display_name: "100% sure" });
});
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close()]);
});

const as = (token = viewer.token) => api(parley.url, token);
const search = (params: string, token?: string) => as(token).get(`/api/v1/accounts/search?${params}`);
const accts = (body: { acct: string }[]) => body.map((account) => account.acct);
const sql = () => parley.parley.deps.db.$client;
/** Requests the remote server received while `action` ran. */
async function remoteRequestsDuring(action: () => Promise<unknown>) {
  const before = remote.requests.length;
  await action();
  return remote.requests.slice(before).map((r) => `${r.method} ${r.path}`);
}

describe("GET /api/v1/accounts/search", () => {
  it("finds local accounts by name prefix and display name, case-insensitively, exact name first", async () => {
    const sam = await search("q=SAM");
    expect(sam.status).toBe(200);
    // "Sam_Local" and "samantha" by name, nobody else; neither is an exact "sam".
    expect(accts(sam.body).sort()).toEqual(["Sam_Local", "samantha"]);

    const exact = await search("q=samantha");
    expect(accts(exact.body)).toEqual(["samantha"]);

    const byDisplayName = await search(`q=${encodeURIComponent("underhill")}`);
    expect(accts(byDisplayName.body)).toEqual(["frodo"]);

    // Name matches come before display-name matches: "gamgee" only by display name.
    expect(accts((await search("q=gamgee")).body)).toEqual(["Sam_Local"]);
    // `@name`, and `name@<this host>`, are the local account.
    const localHost = new URL(parley.url).host;
    expect(accts((await search("q=%40frodo")).body)).toEqual(["frodo"]);
    expect(accts((await search(`q=${encodeURIComponent(`frodo@${localHost}`)}`)).body)).toEqual(["frodo"]);
  });

  it("renders each result as an Account", async () => {
    const [frodo] = (await search("q=frodo")).body;
    expect(frodo).toMatchObject({
      id: expect.any(String),
      username: "frodo",
      acct: "frodo",
      display_name: "Mr. Underhill",
      url: `${parley.url}/users/frodo`,
      fqn: `frodo@${new URL(parley.url).host}`,
      fields: [],
      emojis: [],
      pleroma: { is_local: true, accepts_chat_messages: true, ap_id: `${parley.url}/users/frodo` },
    });
    expect(frodo).not.toHaveProperty("source");
  });

  it("takes LIKE wildcards in the query literally", async () => {
    expect(accts((await search("q=%25")).body)).toEqual(["percent_1"]);
    expect(accts((await search("q=_")).body)).toEqual([]);
  });

  it("leaves out deleted accounts and accounts the viewer blocks", async () => {
    const doomed = await createAccount(parley, "doomed_one");
    const blocked = await createAccount(parley, "doomed_two");
    expect(accts((await search("q=doomed")).body).sort()).toEqual(["doomed_one", "doomed_two"]);
    expect((await api(parley.url, parley.adminToken).delete(`/api/v1/admin/accounts/${doomed.account.id}`)).status).toBe(200);
    expect((await as().post(`/api/v1/accounts/${blocked.account.id}/block`)).status).toBe(200);
    expect((await search("q=doomed")).body).toEqual([]);
    // Someone else, who does not block doomed_two, still finds it.
    const other = await createAccount(parley, "other_viewer");
    expect(accts((await search("q=doomed", other.token)).body)).toEqual(["doomed_two"]);
  });

  it("pages with limit and offset, with a Link `next` while pages are full", async () => {
    for (const n of [1, 2, 3]) await createAccount(parley, `pager_${n}`);
    const first = await search("q=pager&limit=2&followers=true");
    expect(first.status).toBe(200);
    expect(accts(first.body)).toEqual(["pager_1", "pager_2"]);
    const next = linksOf(first.headers.get("link")).next;
    expect(next).toBeDefined();
    const nextUrl = new URL(next!);
    expect(nextUrl.searchParams.get("offset")).toBe("2");
    expect(nextUrl.searchParams.get("q")).toBe("pager");
    const second = await as().get(`${nextUrl.pathname}${nextUrl.search}`);
    expect(accts(second.body)).toEqual(["pager_3"]);
    expect(second.headers.get("link")).toBeNull();
    expect(accts((await search("q=pager&offset=1&limit=1")).body)).toEqual(["pager_2"]);
  });

  it("refuses bad parameters naming the field, clamps a large limit", async () => {
    const missing = await search("limit=5");
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ error: "invalid_request", field: "q" });
    expect((await search("q=a&limit=0")).body).toMatchObject({ error: "invalid_request", field: "limit" });
    expect((await search("q=a&offset=-1")).body).toMatchObject({ error: "invalid_request", field: "offset" });
    expect((await search("q=a&resolve=maybe")).body).toMatchObject({ error: "invalid_request", field: "resolve" });
    expect((await search("q=a&limit=1000")).status).toBe(200);
    expect((await search("q=%20%20")).body).toEqual([]);
    expect((await as("not-a-token").get("/api/v1/accounts/search?q=a")).status).toBe(401);
  });

  it("answers malformed queries with 400 naming the field, never a 5xx", async () => {
    for (const [query, field] of [
      ["q=a%00b", "q"],
      ["q[]=a&q[]=b", "q"],
      ["q=a&offset=1e99", "offset"],
      ["q=a&offset=1.5", "offset"],
      ["q=a&limit=1e99", "limit"],
      [`q=${"x".repeat(1001)}`, "q"],
    ]) {
      const response = await search(query);
      expect([query, response.status, response.body]).toEqual([query, 400, expect.objectContaining({ error: "invalid_request", field })]);
    }
    for (const query of [
      "q=%ED%A0%80",
      "q=%F0%9F%98%80",
      "q=a&limit=1000000",
      "q=a&offset=100000000",
      "q=\\",
      "q=%27%3B--",
      "q=a@b@c&resolve=true",
      "q=@&resolve=true",
      "q=a&limit[]=2",
    ]) {
      const response = await search(query);
      expect([query, response.status]).toEqual([query, 200]);
    }
    const v2 = await as().get("/api/v2/search?q=a%00&type=accounts");
    expect(v2.body).toMatchObject({ error: "invalid_request", field: "q" });
  });

  it("matches a cached remote account by name and name@host without resolve; a gone one is left out", async () => {
    const gimli = remote.actor("gimli", { name: "Gimli son of Glóin" });
    expect((await as().get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(`gimli@${remoteHost}`)}`)).status).toBe(200);

    const requests = await remoteRequestsDuring(async () => {
      expect(accts((await search("q=gimli")).body)).toEqual([`gimli@${remoteHost}`]);
      expect(accts((await search(`q=${encodeURIComponent(`@gimli@${remoteHost}`)}`)).body)).toEqual([`gimli@${remoteHost}`]);
      // The start of the host narrows as it is typed.
      expect(accts((await search(`q=${encodeURIComponent(`gimli@${remoteHost.slice(0, 4)}`)}`)).body)).toEqual([`gimli@${remoteHost}`]);
      expect(accts((await search("q=gl%C3%B3in")).body)).toEqual([`gimli@${remoteHost}`]);
      expect(accts((await search(`q=${encodeURIComponent(gimli.id)}`)).body)).toEqual([`gimli@${remoteHost}`]);
    });
    expect(requests).toEqual([]);

    await sql()`UPDATE accounts SET gone_at = now() WHERE uri = ${gimli.id}`;
    expect((await search("q=gimli")).body).toEqual([]);
  });

  it("resolve=true looks an unknown name@host up through WebFinger and puts it first", async () => {
    const legolas = remote.actor("legolas", { name: "Legolas", capabilities: { acceptsChatMessages: true } });
    // A local namesake: without resolve, only it is found, and the remote server is not asked.
    await createAccount(parley, "legolas_fan");
    const without = await remoteRequestsDuring(async () => {
      expect(accts((await search(`q=${encodeURIComponent(`legolas@${remoteHost}`)}`)).body)).toEqual([]);
    });
    expect(without).toEqual([]);

    const requests = await remoteRequestsDuring(async () => {
      const found = await search(`q=${encodeURIComponent(`@legolas@${remoteHost}`)}&resolve=true`);
      expect(found.status).toBe(200);
      expect(accts(found.body)).toEqual([`legolas@${remoteHost}`]);
      expect(found.body[0]).toMatchObject({ uri: legolas.id, pleroma: { is_local: false, accepts_chat_messages: true } });
    });
    expect(requests).toContain("GET /.well-known/webfinger");
    expect(requests).toContain("GET /users/legolas");

    // Cached now: found by a bare name too, the exact name before a local account whose name only starts with it.
    expect(accts((await search("q=legolas")).body)).toEqual([`legolas@${remoteHost}`, "legolas_fan"]);
    // The exact account first: the resolved one leads even where local accounts would come first.
    expect(accts((await search(`q=${encodeURIComponent(`legolas@${remoteHost}`)}&resolve=true`)).body)[0]).toBe(`legolas@${remoteHost}`);
  });

  it("resolve=true of an actor URL finds the actor", async () => {
    const aragorn = remote.actor("aragorn", { name: "Strider" });
    const found = await search(`q=${encodeURIComponent(aragorn.id)}&resolve=true`);
    expect(found.status).toBe(200);
    expect(accts(found.body)).toEqual([`aragorn@${remoteHost}`]);
  });

  it("a lookup that fails is no error: just no remote result", async () => {
    for (const q of [
      `nobody@${remoteHost}`,
      "someone@unresolvable.invalid",
      "someone@127.0.0.1:1",
      "https://unresolvable.invalid/users/x",
    ]) {
      const response = await search(`q=${encodeURIComponent(q)}&resolve=true`);
      expect(response.status).toBe(200);
      expect(response.body).toEqual([]);
    }
  });
});

describe("GET /api/v2/search", () => {
  it("answers accounts, statuses and hashtags; only accounts are ever found", async () => {
    const response = await as().get("/api/v2/search?q=frodo");
    expect(response.status).toBe(200);
    expect(Object.keys(response.body).sort()).toEqual(["accounts", "hashtags", "statuses"]);
    expect(accts(response.body.accounts)).toEqual(["frodo"]);
    expect(response.body.statuses).toEqual([]);
    expect(response.body.hashtags).toEqual([]);
    expect((await as().get("/api/v2/search?q=frodo&type=statuses")).body).toEqual({ accounts: [], statuses: [], hashtags: [] });
    expect((await as().get("/api/v2/search?q=frodo&type=hashtags")).body.accounts).toEqual([]);
    expect(accts((await as().get("/api/v2/search?q=frodo&type=accounts")).body.accounts)).toEqual(["frodo"]);
    expect((await as().get("/api/v2/search?q=frodo&type=users")).body).toMatchObject({ error: "invalid_request", field: "type" });
  });

  it("takes Soapbox's search (actions/search.ts submitSearch, then expandSearch by offset)", async () => {
    for (const n of [1, 2, 3]) await createAccount(parley, `soapfind_${n}`);
    // submitSearch: q, resolve=true, limit=20, type (statuses by default, then the accounts tab).
    const statusesTab = await as().get("/api/v2/search?q=soapfind&resolve=true&limit=20&type=statuses");
    expect(statusesTab.body.accounts).toEqual([]);
    const first = await as().get("/api/v2/search?q=soapfind&resolve=true&limit=2&type=accounts");
    expect(accts(first.body.accounts)).toEqual(["soapfind_1", "soapfind_2"]);
    // expandSearch: no Link header, so q, type and offset = the results held.
    expect(first.headers.get("link")).toBeNull();
    const more = await as().get("/api/v2/search?q=soapfind&type=accounts&offset=2");
    expect(accts(more.body.accounts)).toEqual(["soapfind_3"]);
  });
});

it("the OpenAPI document describes the new endpoints", async () => {
  const doc = (await api(parley.url).get("/api/openapi")).body;
  for (const path of ["/api/v1/accounts/search", "/api/v2/search", "/api/v1/accounts/relationships", "/api/v1/blocks", "/api/v1/mutes"]) {
    expect([path, typeof doc.paths[path]?.get?.summary]).toEqual([path, "string"]);
  }
  expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(["SearchResults", "Relationship", "CredentialAccount"]));
});

describe("starting a chat", () => {
  it("Soapbox: useAccountSearch → ChatSearch onSelect (getOrCreateChatByAccountId) → useChat → useFetchRelationships", async () => {
    const me = await createAccount(parley, "soapbox_user");
    const friend = await createAccount(parley, "soapfriend", { display_name: "Soap Friend" });
    const client = api(parley.url, me.token);
    // src/queries/search.ts useAccountSearch: q, limit 10, followers=true.
    const results = await client.get("/api/v1/accounts/search?q=soapfr&limit=10&followers=true");
    expect(results.status).toBe(200);
    expect(results.body.map((a: { id: string }) => a.id)).toEqual([friend.account.id]);
    // src/features/chats/components/chat-search/chat-search.tsx: the picked account → POST by-account-id.
    const chat = await client.post(`/api/v1/pleroma/chats/by-account-id/${results.body[0].id}`);
    expect(chat.status).toBe(200);
    expect(chat.body.account.id).toBe(friend.account.id);
    // src/queries/chats.ts useChat: the chat, then the relationship of its account (id[]=…).
    expect((await client.get(`/api/v1/pleroma/chats/${chat.body.id}`)).status).toBe(200);
    const relationships = await client.get(`/api/v1/accounts/relationships?id[]=${chat.body.account.id}`);
    expect(relationships.status).toBe(200);
    expect(relationships.body).toEqual([expect.objectContaining({ id: friend.account.id, blocked_by: false, blocking: false })]);
    // chat-composer.tsx reads blocked_by: once the friend blocks, the next fetch says so.
    await api(parley.url, friend.token).post(`/api/v1/accounts/${me.account.id}/block`);
    const after = await client.get(`/api/v1/accounts/relationships?id[]=${friend.account.id}`);
    expect(after.body[0]).toMatchObject({ blocked_by: true, blocking: false });
  });

  it("Pleroma-FE: chat_new.js search (search2, resolve, type 'accounts') → chat.js startFetching (getOrCreateChat)", async () => {
    const me = await createAccount(parley, "plfe_user");
    const boromir = remote.actor("boromir", { name: "Boromir", capabilities: { acceptsChatMessages: true } });
    const client = api(parley.url, me.token);
    // api.service.js search2 with { q, resolve: true, type: 'accounts' }: it encodes q, and sends the
    // type as a second `following` parameter, then with_relationships=true.
    const q = encodeURIComponent(`boromir@${remoteHost}`);
    const results = await client.get(`/api/v2/search?q=${q}&resolve=true&following=accounts&with_relationships=true`);
    expect(results.status).toBe(200);
    expect(results.body.statuses).toEqual([]);
    expect(results.body.accounts).toHaveLength(1);
    const found = results.body.accounts[0];
    expect(found).toMatchObject({ acct: `boromir@${remoteHost}`, uri: boromir.id });
    // entity_normalizer parseUser maps fields and reads pleroma.*; it throws without a fields array.
    expect(Array.isArray(found.fields)).toBe(true);
    // chat.js startFetching → api.service.js getOrCreateChat: POST by-account-id of the user picked.
    const chat = await client.post(`/api/v1/pleroma/chats/by-account-id/${found.id}`);
    expect(chat.status).toBe(200);
    expect(chat.body.account).toMatchObject({ id: found.id, acct: `boromir@${remoteHost}` });

    // Typing on: every keystroke searches; a partial handle resolves nothing and is no error.
    const partial = await client.get(
      `/api/v2/search?q=${encodeURIComponent(`boromir@${remoteHost.split(":")[0]}`)}&resolve=true&following=accounts&with_relationships=true`,
    );
    expect(partial.status).toBe(200);
    expect(partial.body.accounts.map((a: { acct: string }) => a.acct)).toEqual([`boromir@${remoteHost}`]);
  });
});
