import { createPublicKey, webcrypto } from "node:crypto";
import type { ServerResponse } from "node:http";
import { FetchError, UrlError } from "@fedify/vocab-runtime";
import httpSignature from "http-signature";
import { PostgresKvStore } from "../src/federation/kv.js";
import {
  authenticatedRemoteDocumentLoader,
  lookupRemoteAccount,
  RemoteActorError,
  remoteDocumentLoader,
  resolveRemoteActor,
} from "../src/federation/remote-actors.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";

/**
 * Remote actors: lookup by URL and by WebFinger handle, the daily cache, capabilities, nodeinfo,
 * gone actors, refused documents, the SSRF guard through the API, and Fedify's loaders on safeFetch.
 */

let parley: TestParley;
let remote: RemoteServer;
let token: string;
let host: string;

beforeAll(async () => {
  [parley, remote] = await Promise.all([
    startTestParley({ role: "web" }),
    startRemoteServer({ webfinger: true, nodeinfo: { software: "pleroma" } }),
  ]);
  token = (await createAccount(parley, "alice")).token;
  host = new URL(remote.url).host;
});
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close()]);
});

const deps = () => parley.parley.deps;
const lookup = (acct: string) => api(parley.url, token).get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(acct)}`);
const sql = () => parley.parley.deps.db.$client;
/** Requests the remote received while `action` ran. */
async function requestsDuring(action: () => Promise<unknown>, server: RemoteServer = remote) {
  const before = server.requests.length;
  await action();
  return server.requests.slice(before).map((r) => `${r.method} ${r.path}`);
}
async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (error) {
    if (error instanceof RemoteActorError) return error.code;
    throw error;
  }
}
const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { "content-type": "application/activity+json" }).end(JSON.stringify(body));

describe("lookup", () => {
  it("finds a remote actor by actor URL and stores it", async () => {
    const bob = remote.actor("bob", {
      name: "Bob",
      summary: '<p>hi <script>alert(1)</script><a href="https://bob.example" onclick="x()">site</a></p>',
      url: `${remote.url}/@bob`,
      icon: { type: "Image", mediaType: "image/png", url: `${remote.url}/media/bob.png` },
      capabilities: { acceptsChatMessages: true },
    });
    const response = await lookup(bob.id);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      username: "bob",
      acct: `bob@${host}`,
      display_name: "Bob",
      uri: bob.id,
      url: `${remote.url}/@bob`,
      avatar: `${remote.url}/media/bob.png`,
      pleroma: { accepts_chat_messages: true, is_local: false },
    });
    expect(response.body.note).not.toMatch(/script|onclick/);
    expect(response.body.note).toContain('href="https://bob.example"');

    const [row] = await sql()`SELECT * FROM accounts WHERE uri = ${bob.id}`;
    expect(row).toMatchObject({
      username: "bob",
      domain: host,
      inbox_url: bob.inbox,
      shared_inbox_url: `${remote.url}/inbox`,
      software: "pleroma",
      gone_at: null,
    });
    expect(Date.now() - new Date(row.fetched_at).getTime()).toBeLessThan(60_000);
  });

  it("finds an actor by name@host:port through WebFinger, then from the cache without any request", async () => {
    const carol = remote.actor("carol");
    const first = await requestsDuring(async () => {
      const response = await lookup(`carol@${host}`);
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ acct: `carol@${host}`, uri: carol.id });
    });
    expect(first).toEqual(["GET /.well-known/webfinger", "GET /users/carol"]);

    const again = await requestsDuring(async () => {
      const byHandle = await lookup(`@carol@${host}`);
      const byUrl = await lookup(carol.id);
      expect(byHandle.status).toBe(200);
      expect(byUrl.body.id).toBe(byHandle.body.id);
    });
    expect(again).toEqual([]);
  });

  it("asks nodeinfo once per host", async () => {
    const nodeinfo = remote.requests.filter((r) => r.path.includes("nodeinfo"));
    expect(nodeinfo.map((r) => r.path)).toEqual(["/.well-known/nodeinfo", "/nodeinfo/2.1"]);
  });

  it("still finds local accounts by name, and by name@our-host", async () => {
    const local = new URL(parley.url).host;
    expect((await lookup("alice")).body.acct).toBe("alice");
    expect((await lookup(`alice@${local}`)).body.acct).toBe("alice");
    expect((await lookup(`${parley.url}/users/alice`)).body.acct).toBe("alice");
  });

  it("answers 404 for what cannot be resolved", async () => {
    for (const acct of [`nobody@${host}`, `${remote.url}/users/nobody`, "nobody", "a@b@c", "ftp://example.com/x", "bob@[bad"]) {
      const response = await lookup(acct);
      expect({ acct, status: response.status, body: response.body }).toEqual({ acct, status: 404, body: { error: "not_found" } });
    }
  });

  it("follows a profile URL to the actor's id on the same server", async () => {
    const erin = remote.actor("erin");
    remote.route("/@erin", (_req, res) => json(res, 200, erin.document));
    const response = await lookup(`${remote.url}/@erin`);
    expect(response.status).toBe(200);
    expect(response.body.uri).toBe(`${remote.url}/users/erin`);
    remote.route("/@erin", undefined);
  });
});

describe("the daily cache", () => {
  it("refetches an actor fetched more than 24 h ago", async () => {
    const dan = remote.actor("dan", { name: "Dan" });
    await resolveRemoteActor(deps(), dan.id);
    dan.document.name = "Daniel";
    expect(await requestsDuring(() => resolveRemoteActor(deps(), dan.id))).toEqual([]);
    expect((await resolveRemoteActor(deps(), dan.id)).displayName).toBe("Dan");

    await sql()`UPDATE accounts SET fetched_at = now() - interval '25 hours' WHERE uri = ${dan.id}`;
    let row;
    expect(await requestsDuring(async () => (row = await resolveRemoteActor(deps(), dan.id)))).toEqual(["GET /users/dan"]);
    expect(row!.displayName).toBe("Daniel");
    expect(Date.now() - row!.fetchedAt!.getTime()).toBeLessThan(60_000);
  });

  it("refetches at once with refresh: true, keeping the row's id", async () => {
    const fay = remote.actor("fay", { name: "Fay" });
    const first = await resolveRemoteActor(deps(), fay.id);
    fay.document.name = "Fay 2";
    let second;
    expect(await requestsDuring(async () => (second = await resolveRemoteActor(deps(), fay.id, { refresh: true })))).toEqual([
      "GET /users/fay",
    ]);
    expect(second).toMatchObject({ id: first.id, displayName: "Fay 2" });
  });

  it("a stale lookup by handle asks WebFinger and the actor again", async () => {
    const gil = remote.actor("gil");
    await lookup(`gil@${host}`);
    await sql()`UPDATE accounts SET fetched_at = now() - interval '25 hours' WHERE uri = ${gil.id}`;
    expect(await requestsDuring(() => lookup(`gil@${host}`))).toEqual(["GET /.well-known/webfinger", "GET /users/gil"]);
  });
});

describe("capabilities and software", () => {
  it.each([
    ["true", { capabilities: { acceptsChatMessages: true } }, true],
    ["false", { capabilities: { acceptsChatMessages: false } }, false],
    ["absent", {}, null],
    ["capabilities without the flag", { capabilities: {} }, null],
    ["not a boolean", { capabilities: { acceptsChatMessages: "yes" } }, null],
  ])("acceptsChatMessages %s", async (name, extra, expected) => {
    const actor = remote.actor(`caps_${name.replace(/\W/g, "_")}`, extra);
    const row = await resolveRemoteActor(deps(), actor.id);
    expect(row.acceptsChatMessages).toBe(expected);
    expect((await lookup(actor.id)).body.pleroma.accepts_chat_messages).toBe(expected);
  });

  it("follows a change of capabilities on refresh", async () => {
    const hal = remote.actor("hal", { capabilities: { acceptsChatMessages: true } });
    expect((await resolveRemoteActor(deps(), hal.id)).acceptsChatMessages).toBe(true);
    delete hal.document.capabilities;
    expect((await resolveRemoteActor(deps(), hal.id, { refresh: true })).acceptsChatMessages).toBeNull();
  });

  it("stores the nodeinfo software name, or null for a server without nodeinfo", async () => {
    const bare = await startRemoteServer();
    try {
      const ivy = bare.actor("ivy");
      const row = await resolveRemoteActor(deps(), ivy.id);
      expect(row.software).toBeNull();
      expect(bare.requests.map((r) => r.path)).toEqual(["/users/ivy", "/.well-known/nodeinfo"]);
      expect((await resolveRemoteActor(deps(), remote.actor("jay").id)).software).toBe("pleroma");
    } finally {
      await bare.close();
    }
  });
});

describe("gone and refused actors", () => {
  it.each([410, 404])("a %i marks a known actor gone; the lookup then answers 404", async (status) => {
    const kim = remote.actor(`kim${status}`);
    await resolveRemoteActor(deps(), kim.id);
    remote.route(`/users/kim${status}`, (_req, res) => json(res, status, { error: "gone" }));
    const error = await resolveRemoteActor(deps(), kim.id, { refresh: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteActorError);
    expect((error as RemoteActorError).code).toBe("gone");
    expect((error as RemoteActorError).details.account?.goneAt).toBeInstanceOf(Date);
    const [row] = await sql()`SELECT gone_at FROM accounts WHERE uri = ${kim.id}`;
    expect(row.gone_at).not.toBeNull();
    // Cached as gone: no request until the next refresh.
    expect(await requestsDuring(async () => expect((await lookup(kim.id)).status).toBe(404))).toEqual([]);

    // Back again: a refresh clears gone_at.
    remote.route(`/users/kim${status}`, undefined);
    expect((await resolveRemoteActor(deps(), kim.id, { refresh: true })).goneAt).toBeNull();
  });

  it("a Tombstone is gone too; an unknown actor's 410 creates no row", async () => {
    remote.route("/users/tomb", (_req, res) => json(res, 200, { id: `${remote.url}/users/tomb`, type: "Tombstone" }));
    expect(await codeOf(resolveRemoteActor(deps(), `${remote.url}/users/tomb`))).toBe("gone");
    expect(await sql()`SELECT 1 FROM accounts WHERE uri = ${`${remote.url}/users/tomb`}`).toHaveLength(0);
  });

  it("refuses a document that is not an actor", async () => {
    const note = `${remote.url}/objects/1`;
    remote.route("/objects/1", (_req, res) =>
      json(res, 200, { id: note, type: "Note", content: "hi", preferredUsername: "x", inbox: note }),
    );
    expect(await codeOf(resolveRemoteActor(deps(), note))).toBe("not_an_actor");
    expect((await lookup(note)).status).toBe(404);
    remote.route("/objects/2", (_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>hi</html>"));
    expect(await codeOf(resolveRemoteActor(deps(), `${remote.url}/objects/2`))).toBe("invalid_json");
    expect(await sql()`SELECT 1 FROM accounts WHERE uri LIKE ${`${remote.url}/objects/%`}`).toHaveLength(0);
  });

  it("refuses an actor without a usable inbox or name", async () => {
    const nameless = remote.actor("nameless", { preferredUsername: undefined });
    const inboxless = remote.actor("inboxless", { inbox: "javascript:alert(1)" });
    expect(await codeOf(resolveRemoteActor(deps(), nameless.id))).toBe("invalid_actor");
    expect(await codeOf(resolveRemoteActor(deps(), inboxless.id))).toBe("invalid_actor");
  });

  it("refuses a document whose id is on another origin, and one served after a redirect to another origin", async () => {
    const other = await startRemoteServer();
    try {
      // Our remote serves a document claiming to be an actor of `other`, which has no such actor.
      const claimed = `${other.url}/users/mallory`;
      remote.route("/users/mallory", (_req, res) =>
        json(res, 200, { ...remote.actor("mallory_doc").document, id: claimed, preferredUsername: "mallory" }),
      );
      const error = await resolveRemoteActor(deps(), `${remote.url}/users/mallory`).catch((e: unknown) => e);
      expect((error as RemoteActorError).code).toBe("id_mismatch");
      // The lookup asks `other` itself about that id: it does not know it, so 404.
      expect((await lookup(`${remote.url}/users/mallory`)).status).toBe(404);
      expect(other.requests.map((r) => r.path)).toContain("/users/mallory");
      expect(await sql()`SELECT 1 FROM accounts WHERE uri = ${claimed} OR username = 'mallory'`).toHaveLength(0);

      // `other` redirects its actor URL to our remote, which serves a document claiming other's id.
      other.route("/users/redirected", (_req, res) => res.writeHead(302, { location: `${remote.url}/users/redirected` }).end());
      remote.route("/users/redirected", (_req, res) =>
        json(res, 200, { ...remote.actor("redirected").document, id: `${other.url}/users/redirected` }),
      );
      expect(await codeOf(resolveRemoteActor(deps(), `${other.url}/users/redirected`))).toBe("id_mismatch");
    } finally {
      await other.close();
    }
  });

  it("does not fetch our own origin: an unknown local URI is not_found", async () => {
    const before = remote.requests.length;
    expect(await codeOf(resolveRemoteActor(deps(), `${parley.url}/users/nobody`))).toBe("not_found");
    expect(remote.requests.length).toBe(before);
  });
});

describe("with ALLOW_PRIVATE_ADDRESS=false", () => {
  let guarded: TestParley;
  let guardedToken: string;
  beforeAll(async () => {
    guarded = await startTestParley({ role: "web", env: { ALLOW_PRIVATE_ADDRESS: "false" } });
    guardedToken = (await createAccount(guarded, "gina")).token;
  });
  afterAll(() => guarded?.close());

  it("a lookup of a loopback actor answers 404 and no request reaches the remote", async () => {
    const lina = remote.actor("lina");
    const sent = await requestsDuring(async () => {
      for (const acct of [lina.id, `lina@${host}`]) {
        const response = await api(guarded.url, guardedToken).get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(acct)}`);
        expect(response.status).toBe(404);
      }
    });
    expect(sent).toEqual([]);
  });

  it("a signed inbox POST from a loopback actor fails its key fetch (401) without a request to the remote", async () => {
    const mo = remote.actor("mo");
    const activity = {
      "@context": "https://www.w3.org/ns/activitystreams",
      id: `${remote.url}/activities/mo-1`,
      type: "Create",
      actor: mo.id,
      to: [`${guarded.url}/users/gina`],
      object: { id: `${remote.url}/objects/mo-1`, type: "Note", attributedTo: mo.id, content: "hi", to: [`${guarded.url}/users/gina`] },
    };
    let response: Awaited<ReturnType<typeof signedPost>> | undefined;
    const sent = await requestsDuring(async () => (response = await signedPost(`${guarded.url}/users/gina/inbox`, activity, mo)));
    expect(response!.status).toBe(401);
    expect(JSON.parse(response!.body)).toEqual({ error: "invalid_signature", reason: "keyFetchError" });
    expect(sent).toEqual([]);
  });
});

describe("Fedify's document loaders on safeFetch", () => {
  it("answer the litepub context of any instance, and Fedify's preloaded contexts, without a request", async () => {
    const load = remoteDocumentLoader({ allowPrivateAddress: false });
    const litepub = await load("https://pleroma.example/schemas/litepub-0.1.jsonld");
    expect(JSON.stringify(litepub.document)).toContain("ChatMessage");
    const as = await load("https://www.w3.org/ns/activitystreams");
    expect(JSON.stringify(as.document)).toContain("OrderedCollection");
  });

  it("load a loopback document only when private addresses are allowed", async () => {
    const nia = remote.actor("nia");
    const document = await remoteDocumentLoader({ allowPrivateAddress: true })(nia.id);
    expect(document).toMatchObject({ documentUrl: nia.id, document: { id: nia.id, type: "Person" } });
    const refused = await requestsDuring(async () => {
      await expect(remoteDocumentLoader({ allowPrivateAddress: false })(nia.id)).rejects.toBeInstanceOf(UrlError);
    });
    expect(refused).toEqual([]);
  });

  it("report an HTTP error as a FetchError carrying the response (how Fedify tells a gone key)", async () => {
    remote.route("/users/olly", (_req, res) => json(res, 410, {}));
    const error = await remoteDocumentLoader({ allowPrivateAddress: true })(`${remote.url}/users/olly`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FetchError);
    expect((error as FetchError).response?.status).toBe(410);
  });

  it("cache other contexts in the KV store when asked (the context loader)", async () => {
    const url = `${remote.url}/ns/context.jsonld`;
    remote.route("/ns/context.jsonld", (_req, res) =>
      res.writeHead(200, { "content-type": "application/ld+json" }).end(JSON.stringify({ "@context": { x: "https://x.example/#x" } })),
    );
    const load = remoteDocumentLoader({ allowPrivateAddress: true }, { contextCache: new PostgresKvStore(deps().db) });
    const sent = await requestsDuring(async () => {
      expect((await load(url)).document).toEqual({ "@context": { x: "https://x.example/#x" } });
      expect((await load(url)).document).toEqual({ "@context": { x: "https://x.example/#x" } });
      await load("https://akkoma.example/schemas/litepub-0.1.jsonld");
    });
    expect(sent).toEqual(["GET /ns/context.jsonld"]);
  });

  it("a failed key fetch can be remembered: the KV store keeps Fedify's JSON null", async () => {
    const kv = new PostgresKvStore(deps().db);
    await kv.set(["test", "unavailable-key"], null);
    expect(await kv.get(["test", "unavailable-key"])).toBeNull();
    expect(await kv.get(["test", "never-set"])).toBeUndefined();
    expect(await kv.cas(["test", "unavailable-key"], null, { ok: true })).toBe(true);
    expect(await kv.cas(["test", "fresh"], undefined, null)).toBe(true);
    expect(await kv.get(["test", "fresh"])).toBeNull();
  });

  it("sign GETs draft-cavage when authenticated, verified by http-signature", async () => {
    const { publicKey, privateKey } = await webcrypto.subtle.generateKey(
      { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
      true,
      ["sign", "verify"],
    );
    const pem = createPublicKey({ key: Buffer.from(await webcrypto.subtle.exportKey("spki", publicKey)), format: "der", type: "spki" })
      .export({ type: "spki", format: "pem" })
      .toString();
    const keyId = new URL(`${parley.url}/users/alice#main-key`);
    let verdict: unknown;
    remote.route("/private/doc", (req, res) => {
      try {
        const parsed = httpSignature.parseRequest(req, { authorizationHeaderName: "signature" });
        verdict = { keyId: parsed.keyId, algorithm: parsed.algorithm, valid: httpSignature.verifySignature(parsed, pem) };
      } catch (error) {
        verdict = { error: String(error) };
      }
      json(res, 200, { "@context": "https://www.w3.org/ns/activitystreams", id: `${remote.url}/private/doc`, type: "Note" });
    });
    const load = authenticatedRemoteDocumentLoader({ allowPrivateAddress: true }, { keyId, privateKey: privateKey as CryptoKey });
    const document = await load(`${remote.url}/private/doc`);
    expect(document.document).toMatchObject({ type: "Note" });
    expect(verdict).toEqual({ keyId: keyId.href, algorithm: "RSA-SHA256", valid: true });
  });
});

describe("lookupRemoteAccount", () => {
  it("resolves the same forms without the API", async () => {
    const pia = remote.actor("pia");
    const byHandle = await lookupRemoteAccount(deps(), `pia@${host}`);
    expect(byHandle?.uri).toBe(pia.id);
    expect((await lookupRemoteAccount(deps(), pia.id))?.id).toBe(byHandle?.id);
    expect(await lookupRemoteAccount(deps(), `acct:pia@${host}`)).toMatchObject({ id: byHandle?.id });
    expect(await lookupRemoteAccount(deps(), "not an acct")).toBeUndefined();
  });
});
