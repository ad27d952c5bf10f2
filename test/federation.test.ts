import { createPublicKey, generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Temporal } from "@js-temporal/polyfill";
import { KV_MAX_TTL_MS, PostgresKvStore } from "../src/federation/kv.js";
import { api, createAccount, dropDatabase, startTestParley, TEST_PG, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";

const AP = { accept: "application/activity+json" };

/** The term-definition objects of a JSON-LD document's @context. */
function contextDefinitions(document: { "@context"?: unknown }): Record<string, any>[] {
  return [document["@context"]].flat().filter((c): c is Record<string, any> => typeof c === "object" && c !== null);
}

let parley: TestParley;
let remote: RemoteServer;
let host: string;
let alice: Awaited<ReturnType<typeof createAccount>>;

beforeAll(async () => {
  [parley, remote] = await Promise.all([startTestParley({ queue: "postgres" }), startRemoteServer()]);
  host = new URL(parley.url).host;
  alice = await createAccount(parley, "alice", { display_name: "Alice" });
});
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close()]);
});

describe("WebFinger", () => {
  it("links acct:alice@host to the actor", async () => {
    const response = await api(parley.url).get(`/.well-known/webfinger?resource=acct:alice@${host}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/application\/jrd\+json/);
    expect(response.body.subject).toBe(`acct:alice@${host}`);
    expect(response.body.links).toContainEqual(
      expect.objectContaining({ rel: "self", type: "application/activity+json", href: `${parley.url}/users/alice` }),
    );
  });

  it("finds the actor whatever the case of the name, and by actor URL", async () => {
    const upper = await api(parley.url).get(`/.well-known/webfinger?resource=acct:ALICE@${host}`);
    expect(upper.status).toBe(200);
    expect(upper.body.links).toContainEqual(expect.objectContaining({ rel: "self", href: `${parley.url}/users/alice` }));
    const byUrl = await api(parley.url).get(`/.well-known/webfinger?resource=${encodeURIComponent(`${parley.url}/users/alice`)}`);
    expect(byUrl.status).toBe(200);
  });

  it("answers 404 for an unknown account or another host", async () => {
    expect((await api(parley.url).get(`/.well-known/webfinger?resource=acct:nobody@${host}`)).status).toBe(404);
    expect((await api(parley.url).get(`/.well-known/webfinger?resource=acct:alice@elsewhere.example`)).status).toBe(404);
  });
});

describe("actor document", () => {
  it("is a Person with inbox, outbox, shared inbox and keys", async () => {
    const response = await api(parley.url).get("/users/alice", AP);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/application\/activity\+json/);
    const actor = response.body;
    expect(actor).toMatchObject({
      id: `${parley.url}/users/alice`,
      type: "Person",
      preferredUsername: "alice",
      name: "Alice",
      inbox: `${parley.url}/users/alice/inbox`,
      outbox: `${parley.url}/users/alice/outbox`,
      endpoints: { sharedInbox: `${parley.url}/inbox` },
      publicKey: { id: `${parley.url}/users/alice#main-key`, owner: `${parley.url}/users/alice` },
    });
    const key = createPublicKey(actor.publicKey.publicKeyPem);
    expect(key.asymmetricKeyType).toBe("rsa");
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);

    const methods = [actor.assertionMethod].flat();
    const ed25519 = methods.find((m: { publicKeyMultibase?: string }) => m.publicKeyMultibase?.startsWith("z6Mk"));
    expect(ed25519).toMatchObject({ type: "Multikey", controller: `${parley.url}/users/alice` });
    expect(ed25519.id).toMatch(new RegExp(`^${parley.url}/users/alice#`));
  });

  it("carries capabilities.acceptsChatMessages with a context entry defining it", async () => {
    const actor = (await api(parley.url).get("/users/alice", AP)).body;
    expect(actor.capabilities).toEqual({ acceptsChatMessages: true });
    const entry = contextDefinitions(actor).find((c) => "acceptsChatMessages" in c);
    expect(entry).toBeDefined();
    expect(entry!.capabilities).toBeDefined();
    expect(entry!.acceptsChatMessages).toMatchObject({ "@id": expect.stringMatching(/acceptsChatMessages$/) });

    const off = await api(parley.url, alice.token).patch("/api/v1/accounts/update_credentials", { accepts_chat_messages: false });
    expect(off.status).toBe(200);
    expect((await api(parley.url).get("/users/alice", AP)).body.capabilities).toEqual({ acceptsChatMessages: false });
    await api(parley.url, alice.token).patch("/api/v1/accounts/update_credentials", { accepts_chat_messages: true });
    expect((await api(parley.url).get("/users/alice", AP)).body.capabilities).toEqual({ acceptsChatMessages: true });
  });

  it("is also served for application/ld+json with the ActivityStreams profile", async () => {
    const response = await api(parley.url).get("/users/alice", {
      accept: 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
    });
    expect(response.status).toBe(200);
    expect(response.body.type).toBe("Person");
    expect(response.body.capabilities).toEqual({ acceptsChatMessages: true });
  });

  it("answers 404 for an unknown user, and for other spellings of a name", async () => {
    expect((await api(parley.url).get("/users/nobody", AP)).status).toBe(404);
    expect((await api(parley.url).get("/users/ALICE", AP)).status).toBe(404);
  });

  it("uses the keys stored in PostgreSQL: the same on every fetch", async () => {
    const first = (await api(parley.url).get("/users/alice", AP)).body;
    const second = (await api(parley.url).get("/users/alice", AP)).body;
    expect(second.publicKey.publicKeyPem).toBe(first.publicKey.publicKeyPem);
    expect(second.assertionMethod).toEqual(first.assertionMethod);
    const rows = await parley.parley.deps.db.$client`
      SELECT k.algorithm FROM account_keys k JOIN accounts a ON a.id = k.account_id WHERE a.username = 'alice' ORDER BY 1`;
    expect(rows.map((r) => r.algorithm)).toEqual(["Ed25519", "RSASSA-PKCS1-v1_5"]);
  });

  it("keeps its keys across a restart", async () => {
    const databaseUrl = `${TEST_PG}/parley_test_restart_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const dataDir = await mkdtemp(path.join(tmpdir(), "parley-restart-"));
    try {
      const first = await startTestParley({ databaseUrl, dataDir, role: "web" });
      await createAccount(first, "carol");
      const before = (await api(first.url).get("/users/carol", AP)).body;
      await first.close();
      const second = await startTestParley({ databaseUrl, dataDir, role: "web" });
      const after = (await api(second.url).get("/users/carol", AP)).body;
      await second.close();
      expect(after.publicKey.publicKeyPem).toBe(before.publicKey.publicKeyPem);
      expect(after.assertionMethod.map((m: { publicKeyMultibase: string }) => m.publicKeyMultibase)).toEqual(
        before.assertionMethod.map((m: { publicKeyMultibase: string }) => m.publicKeyMultibase),
      );
    } finally {
      await dropDatabase(databaseUrl);
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it.each(["outbox", "inbox"])("has an empty %s collection to GET", async (box) => {
    const response = await api(parley.url).get(`/users/alice/${box}`, AP);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: `${parley.url}/users/alice/${box}`, type: "OrderedCollection" });
    expect(response.body.totalItems).toBe(0);
    expect(response.body.orderedItems ?? []).toEqual([]);
    expect((await api(parley.url).get(`/users/nobody/${box}`, AP)).status).toBe(404);
  });
});

describe("nodeinfo and instance", () => {
  it("links NodeInfo 2.0 and 2.1, both naming parley and its chat feature", async () => {
    const discovery = await api(parley.url).get("/.well-known/nodeinfo");
    expect(discovery.status).toBe(200);
    const links = discovery.body.links as { rel: string; href: string }[];
    for (const version of ["2.0", "2.1"]) {
      const link = links.find((l) => l.rel === `http://nodeinfo.diaspora.software/ns/schema/${version}`);
      expect(link?.href).toBe(`${parley.url}/nodeinfo/${version}`);
      const document = await api(parley.url).get(new URL(link!.href).pathname);
      expect(document.status).toBe(200);
      expect(document.headers.get("content-type")).toMatch(/^application\/json/);
      expect(document.body).toMatchObject({ version, software: { name: "parley" }, protocols: ["activitypub"] });
      expect(document.body.software.version).toEqual(expect.any(String));
      expect(document.body.metadata.features).toContain("pleroma_chat_messages");
      expect(document.body.usage.users.total).toBeGreaterThanOrEqual(1);
    }
  });

  it("advertises chat_limit in /api/v1/instance and /api/v2/instance", async () => {
    const v1 = await api(parley.url).get("/api/v1/instance");
    expect(v1.status).toBe(200);
    expect(v1.body).toMatchObject({ uri: host, chat_limit: 5000 });
    const v2 = await api(parley.url).get("/api/v2/instance");
    expect(v2.status).toBe(200);
    expect(v2.body.domain).toBe(host);
    expect(v2.body.pleroma.metadata.chat_limit).toBe(5000);
    expect(v2.body.pleroma.metadata.features).toContain("pleroma_chat_messages");
  });

  it("serves the litepub context defining ChatMessage", async () => {
    const response = await api(parley.url).get("/schemas/litepub-0.1.jsonld");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/application\/ld\+json/);
    const definitions = contextDefinitions(response.body).find((c) => "ChatMessage" in c);
    expect(definitions?.ChatMessage).toBe("litepub:ChatMessage");
    expect(definitions?.litepub).toBe("http://litepub.social/ns#");
  });
});

describe("inbox", () => {
  let sender: RemoteActor;
  let mallory: RemoteActor;
  beforeAll(() => {
    sender = remote.actor("remote");
    mallory = remote.actor("mallory");
  });

  const createNote = (actor: RemoteActor = sender) => {
    const id = `${remote.url}/objects/${randomUUID()}`;
    return {
      "@context": "https://www.w3.org/ns/activitystreams",
      id: `${remote.url}/activities/${randomUUID()}`,
      type: "Create",
      actor: actor.id,
      to: [`${parley.url}/users/alice`],
      object: {
        id,
        type: "Note",
        attributedTo: actor.id,
        to: [`${parley.url}/users/alice`],
        content: "hello",
        published: new Date().toISOString(),
      },
    };
  };
  const inboxes = () => [`${parley.url}/users/alice/inbox`, `${parley.url}/inbox`];

  it("answers 401 with a JSON reason to an unsigned POST on both inboxes", async () => {
    for (const inbox of inboxes()) {
      const response = await fetch(inbox, {
        method: "POST",
        headers: { "content-type": "application/activity+json" },
        body: JSON.stringify(createNote()),
      });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ error: "invalid_signature", reason: "noSignature" });
    }
  });

  it("accepts a Create{Note} signed with http-signature by a remote actor (202) on both inboxes", async () => {
    for (const inbox of inboxes()) {
      const response = await signedPost(inbox, createNote(), sender);
      expect(response.status).toBe(202);
    }
    // The key was fetched from the remote actor document.
    expect(remote.requests.some((r) => r.method === "GET" && r.path === "/users/remote")).toBe(true);
  });

  it("answers 202 again for the same activity", async () => {
    const activity = createNote();
    expect((await signedPost(`${parley.url}/inbox`, activity, sender)).status).toBe(202);
    expect((await signedPost(`${parley.url}/inbox`, activity, sender)).status).toBe(202);
  });

  it("answers 401 when the body was changed after signing", async () => {
    const response = await signedPost(`${parley.url}/users/alice/inbox`, createNote(), sender, {
      tamper: (body) => body.replace("hello", "HELLO"),
    });
    expect(response.status).toBe(401);
    expect(JSON.parse(response.body)).toEqual({ error: "invalid_signature", reason: "invalidSignature" });
  });

  it("answers 401 for a signature made with another key", async () => {
    const { privateKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      privateKeyEncoding: { type: "pkcs1", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    const response = await signedPost(`${parley.url}/inbox`, createNote(), sender, { privateKeyPem: privateKey });
    expect(response.status).toBe(401);
    expect(JSON.parse(response.body)).toMatchObject({ error: "invalid_signature" });
  });

  it("answers 401 for a Date three hours old", async () => {
    const response = await signedPost(`${parley.url}/inbox`, createNote(), sender, { date: new Date(Date.now() - 3 * 3600_000) });
    expect(response.status).toBe(401);
  });

  it("answers 401 when the signing key is not the actor's", async () => {
    // Mallory's valid signature on an activity claiming to come from `remote`.
    const response = await signedPost(`${parley.url}/inbox`, createNote(sender), mallory);
    expect(response.status).toBe(401);
    expect(JSON.parse(response.body)).toEqual({ error: "invalid_signature", reason: "actor_key_mismatch" });
  });

  it("answers 400 to a body that is not JSON", async () => {
    const response = await signedPost(`${parley.url}/inbox`, "this is not json", sender);
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toEqual({ error: "invalid_json" });
  });

  it("answers 413 to a body over INBOX_MAX_BYTES, declared or streamed", async () => {
    const activity = createNote();
    activity.object.content = "x".repeat(300_000);
    const response = await signedPost(`${parley.url}/inbox`, activity, sender);
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body)).toEqual({ error: "payload_too_large" });

    // No Content-Length: chunked, counted as it arrives.
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const chunked = await fetch(`${parley.url}/inbox`, {
      method: "POST",
      headers: { "content-type": "application/activity+json" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it("answers 404 for the inbox of an unknown user", async () => {
    const response = await signedPost(`${parley.url}/users/nobody/inbox`, createNote(), sender);
    expect(response.status).toBe(404);
  });
});

describe("Fedify's KvStore on PostgreSQL", () => {
  const store = () => new PostgresKvStore(parley.parley.deps.db);
  // Fedify's Temporal type and the polyfill's differ only nominally.
  const seconds = (n: number) => Temporal.Duration.from({ seconds: n }) as never;

  it("gets, sets, expires, lists by prefix and deletes", async () => {
    const kv = store();
    await kv.set(["t1", "a"], { n: 1 });
    await kv.set(["t1", "b"], "text");
    await kv.set(["t1x", "c"], 3);
    await kv.set(["t1", "gone"], true, { ttl: seconds(-1) });
    expect(await kv.get(["t1", "a"])).toEqual({ n: 1 });
    expect(await kv.get(["t1", "b"])).toBe("text");
    expect(await kv.get(["t1", "gone"])).toBeUndefined();
    const listed: unknown[] = [];
    for await (const entry of kv.list(["t1"])) listed.push(entry);
    expect(listed).toEqual(
      expect.arrayContaining([
        { key: ["t1", "a"], value: { n: 1 } },
        { key: ["t1", "b"], value: "text" },
      ]),
    );
    expect(listed).toHaveLength(2);
    await kv.delete(["t1", "a"]);
    expect(await kv.get(["t1", "a"])).toBeUndefined();
  });

  it("compare-and-swaps: absent means undefined, key order does not matter, one racer wins", async () => {
    const kv = store();
    expect(await kv.cas(["t2", "x"], { state: "closed" }, { state: "open" })).toBe(false);
    expect(await kv.cas(["t2", "x"], undefined, { failures: 1, state: "closed" })).toBe(true);
    expect(await kv.cas(["t2", "x"], undefined, { state: "other" })).toBe(false);
    expect(await kv.cas(["t2", "x"], { state: "closed", failures: 1 }, { state: "open" })).toBe(true);
    expect(await kv.get(["t2", "x"])).toEqual({ state: "open" });

    const racers = await Promise.all([1, 2, 3, 4].map((n) => kv.cas(["t2", "race"], undefined, { n })));
    expect(racers.filter(Boolean)).toHaveLength(1);

    // An expired entry counts as absent.
    await kv.set(["t2", "old"], 1, { ttl: seconds(-1) });
    expect(await kv.cas(["t2", "old"], 1, 2)).toBe(false);
    expect(await kv.cas(["t2", "old"], undefined, 2)).toBe(true);
    expect(await kv.get(["t2", "old"])).toBe(2);
  });

  it("bounds every entry to a week, with or without a TTL (Fedify caches public keys without one)", async () => {
    const kv = store();
    await kv.set(["t3", "no-ttl"], 1);
    await kv.set(["t3", "month"], 1, { ttl: Temporal.Duration.from({ days: 30 }) as never });
    await kv.set(["t3", "minute"], 1, { ttl: seconds(60) });
    await kv.cas(["t3", "cas"], undefined, 1);
    const rows = await parley.parley.deps.db.$client<{ key: string; left_s: number }[]>`
      SELECT key, extract(epoch FROM expires_at - now())::int AS left_s FROM fedify_kv WHERE key LIKE '["t3",%' ORDER BY key`;
    const week = KV_MAX_TTL_MS / 1000;
    const left = Object.fromEntries(rows.map((row) => [JSON.parse(row.key)[1], row.left_s]));
    expect(Object.keys(left).sort()).toEqual(["cas", "minute", "month", "no-ttl"]);
    for (const bounded of ["no-ttl", "month", "cas"]) expect([bounded, Math.abs(left[bounded] - week) <= 60]).toEqual([bounded, true]);
    expect(left.minute).toBeLessThanOrEqual(60);
  });
});

describe("API documentation", () => {
  it("serves an OpenAPI 3.1 document with the chat and admin paths", async () => {
    const response = await api(parley.url).get("/api/openapi");
    expect(response.status).toBe(200);
    expect(response.body.openapi).toMatch(/^3\.1\./);
    expect(Object.keys(response.body.paths)).toEqual(
      expect.arrayContaining(["/api/v1/pleroma/chats/{id}/messages", "/api/v1/admin/accounts"]),
    );
  });

  it("serves Swagger UI and its assets locally", async () => {
    const page = await fetch(`${parley.url}/api/docs/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain("swagger-ui");
    const sources = [...html.matchAll(/<script[^>]+src="([^"]+)"/g)].map((m) => m[1]);
    expect(sources.length).toBeGreaterThan(0);
    // Every script is ours: nothing is loaded from another origin.
    for (const src of sources) {
      const url = new URL(src, page.url);
      expect(url.origin).toBe(parley.url);
      const asset = await fetch(url);
      expect(asset.status).toBe(200);
      expect((await asset.text()).length).toBeGreaterThan(0);
    }
    const init = await (await fetch(new URL("./swagger-ui-init.js", page.url))).text();
    expect(init).toContain("/api/openapi");
  });
});

describe("health", () => {
  it("answers /healthz", async () => {
    const response = await api(parley.url).get("/healthz");
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: "ok" });
  });

  it("answers /readyz with the database and the PostgreSQL queue backend", async () => {
    const response = await api(parley.url).get("/readyz");
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: "ready", database: "ok", queue: { backend: "postgres", status: "ok" } });
  });

  it("answers /readyz with the Redis queue backend", async () => {
    const redis = await startTestParley({ queue: "redis", role: "web" });
    try {
      const response = await api(redis.url).get("/readyz");
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ status: "ready", database: "ok", queue: { backend: "redis", status: "ok" } });
    } finally {
      await redis.close();
    }
  });
});
