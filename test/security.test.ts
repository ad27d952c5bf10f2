import { createHash, createSign, randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { chatHelpers } from "./helpers/chats.js";
import { type Json, pleromaChatMessage, settled, stored } from "./helpers/inbox.js";
import { png } from "./helpers/media.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, signedGet, startRemoteServer } from "./helpers/remote.js";

/**
 * Attacks on the inbox (signature strength, replay,
 * key ownership across origins, ids across origins, JSON-LD tricks, blocks by key host) and
 * authorization across accounts on every API endpoint that takes an id. Each refusal also checks
 * that nothing was stored. (Other cases live in inbox-rules.test.ts, federation.test.ts,
 * objects.test.ts, chats-authorization.test.ts: see docs/reliability-security-notes.md.)
 */

let parley: TestParley;
let remote: RemoteServer;
let evil: RemoteServer;
let sender: RemoteActor;
let bobUri: string;

beforeAll(async () => {
  [parley, remote, evil] = await Promise.all([startTestParley({ queue: "postgres" }), startRemoteServer(), startRemoteServer()]);
  sender = remote.actor("sender", { capabilities: { acceptsChatMessages: true } });
  await createAccount(parley, "bob");
  bobUri = `${parley.url}/users/bob`;
});
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close(), evil?.close()]);
});

const inbox = () => `${parley.url}/inbox`;
const message = (object: Json = {}, activity: Json = {}) => pleromaChatMessage(sender, bobUri, object, activity);
const sha256 = (text: string) => createHash("sha256").update(text).digest("base64");

interface RawSignOptions {
  method?: "POST" | "GET";
  /** Headers covered by the signature, in order; default Pleroma's. */
  headers?: string[];
  /** The `algorithm` parameter written in the Signature header (the signature is always RSA-SHA256). */
  algorithm?: string | null;
  date?: Date;
  digest?: string | null;
  keyId?: string;
  privateKeyPem?: string;
  /** The hash the RSA signature is really made with; default SHA-256. */
  hash?: "RSA-SHA256" | "RSA-SHA1" | "RSA-SHA512";
}

/**
 * A draft-cavage request signed by hand, so that every parameter can be wrong on purpose. Returns
 * the exact headers and body, which `send` can replay byte for byte.
 */
function signRaw(url: string, body: string | undefined, actor: Pick<RemoteActor, "keyId" | "privateKeyPem">, options: RawSignOptions = {}) {
  const target = new URL(url);
  const method = options.method ?? "POST";
  const values: Record<string, string> = {
    host: target.host,
    date: (options.date ?? new Date()).toUTCString(),
    "content-type": "application/activity+json",
  };
  if (body !== undefined && options.digest !== null) values.digest = options.digest ?? `SHA-256=${sha256(body)}`;
  if (method === "GET") {
    delete values["content-type"];
    values.accept = "application/activity+json";
  }
  const names =
    options.headers ??
    (method === "POST" ? ["(request-target)", "host", "date", "digest", "content-type"] : ["(request-target)", "host", "date"]);
  const signingString = names
    .map((name) =>
      name === "(request-target)"
        ? `(request-target): ${method.toLowerCase()} ${target.pathname}${target.search}`
        : `${name}: ${values[name]}`,
    )
    .join("\n");
  const signature = createSign(options.hash ?? "RSA-SHA256")
    .update(signingString)
    .sign(options.privateKeyPem ?? actor.privateKeyPem, "base64");
  const algorithm = options.algorithm === undefined ? "rsa-sha256" : options.algorithm;
  const params = [
    `keyId="${options.keyId ?? actor.keyId}"`,
    ...(algorithm === null ? [] : [`algorithm="${algorithm}"`]),
    `headers="${names.join(" ")}"`,
    `signature="${signature}"`,
  ];
  return { url, method, body, headers: { ...values, signature: params.join(",") } };
}

type Raw = ReturnType<typeof signRaw>;

/** Sends a request exactly as `signRaw` made it (again and again for a replay). */
function send(raw: Raw): Promise<{ status: number; body: any }> {
  const target = new URL(raw.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        method: raw.method,
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        headers: { ...raw.headers, ...(raw.body !== undefined ? { "content-length": Buffer.byteLength(raw.body) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on("error", reject);
    req.end(raw.body);
  });
}

/** Sends and checks that nothing was stored, whatever the answer. */
async function sendStoringNothing(raw: Raw) {
  const before = await stored(parley);
  const response = await send(raw);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(await stored(parley)).toEqual(before);
  return response;
}

const post = (activity: Json, options: RawSignOptions = {}, actor: Pick<RemoteActor, "keyId" | "privateKeyPem"> = sender) =>
  signRaw(inbox(), JSON.stringify(activity), actor, options);

describe("signature strength: 401, nothing stored", () => {
  it("the hand-made signer is accepted when nothing is wrong (the cases below are not refused for another reason)", async () => {
    const response = await send(post(message()));
    expect(response.status).toBe(202);
    await settled(parley);
  });

  const cases: [string, () => Raw][] = [
    ["Date not in the signed headers", () => post(message(), { headers: ["(request-target)", "host", "digest", "content-type"] })],
    [
      "Digest not in the signed headers of a POST",
      () => post(message(), { headers: ["(request-target)", "host", "date", "content-type"] }),
    ],
    [
      "no Digest header at all on a POST",
      () => post(message(), { digest: null, headers: ["(request-target)", "host", "date", "content-type"] }),
    ],
    ["(request-target) not signed", () => post(message(), { headers: ["host", "date", "digest", "content-type"] })],
    [
      "Digest SHA-512 only, not describing the body",
      () => post(message(), { digest: `SHA-512=${createHash("sha512").update("other").digest("base64")}` }),
    ],
    [
      "Digest MD5 only",
      () => {
        const activity = JSON.stringify(message());
        return signRaw(inbox(), activity, sender, { digest: `MD5=${createHash("md5").update(activity).digest("base64")}` });
      },
    ],
    ["Digest SHA-256 that is not base64", () => post(message(), { digest: "SHA-256=!!!not*base64!!!" })],
    ["Digest SHA-256 of the wrong length", () => post(message(), { digest: `SHA-256=${Buffer.alloc(16, 1).toString("base64")}` })],
    ["Digest SHA-256 empty", () => post(message(), { digest: "SHA-256=" })],
    ["a real RSA-SHA1 signature labelled rsa-sha1 (no downgrade)", () => post(message(), { algorithm: "rsa-sha1", hash: "RSA-SHA1" })],
    ["a real RSA-SHA512 signature labelled rsa-sha512", () => post(message(), { algorithm: "rsa-sha512", hash: "RSA-SHA512" })],
    [
      "a GET-style signature on a POST (only (request-target) host date)",
      () => post(message(), { headers: ["(request-target)", "host", "date"] }),
    ],
    ["a Date 61 minutes old", () => post(message(), { date: new Date(Date.now() - 61 * 60_000) })],
    ["a Date 61 minutes ahead", () => post(message(), { date: new Date(Date.now() + 61 * 60_000) })],
    ["a Date a day ahead", () => post(message(), { date: new Date(Date.now() + 24 * 3600_000) })],
    ["a keyId that is not a URL", () => post(message(), { keyId: "main-key" })],
    ["a keyId on a host that does not answer", () => post(message(), { keyId: "http://127.0.0.1:9/users/sender#main-key" })],
  ];

  it.each(cases)("%s", async (_what, build) => {
    const response = await sendStoringNothing(build());
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ error: "invalid_signature" });
  });

  it("hs2019 and no algorithm parameter are accepted for an RSA key (what Mastodon and Misskey send)", async () => {
    expect((await send(post(message(), { algorithm: "hs2019" }))).status).toBe(202);
    expect((await send(post(message(), { algorithm: null }))).status).toBe(202);
    await settled(parley);
  });

  it("an algorithm label other than rsa-sha256 or hs2019 is refused, as Mastodon does, even on a valid RSA-SHA256 signature", async () => {
    for (const algorithm of ["rsa-sha1", "hmac-sha256", "ed25519", "rsa-sha512"]) {
      const response = await sendStoringNothing(post(message(), { algorithm }));
      expect([algorithm, response.status, response.body]).toEqual([
        algorithm,
        401,
        { error: "invalid_signature", reason: "unsupported_algorithm" },
      ]);
    }
    expect((await send(post(message(), { algorithm: "RSA-SHA256" }))).status).toBe(202);
    await settled(parley);
  });

  it("the Digest must carry a SHA-256: a correct SHA-512 alone is refused; with a SHA-256 both must match", async () => {
    const activity = JSON.stringify(message());
    const sha512 = (text: string) => `SHA-512=${createHash("sha512").update(text).digest("base64")}`;
    const alone = await sendStoringNothing(signRaw(inbox(), activity, sender, { digest: sha512(activity) }));
    expect([alone.status, alone.body]).toEqual([401, { error: "invalid_signature", reason: "digest_not_sha256" }]);
    const unpadded = await sendStoringNothing(
      signRaw(inbox(), activity, sender, { digest: `SHA-256=${sha256(activity).replace(/=$/, "")}` }),
    );
    expect([unpadded.status, unpadded.body]).toEqual([401, { error: "invalid_signature", reason: "digest_not_sha256" }]);
    expect((await send(signRaw(inbox(), activity, sender, { digest: `${sha512(activity)}, sha-256=${sha256(activity)}` }))).status).toBe(
      202,
    );
    await settled(parley);
    const other = JSON.stringify(message());
    const wrongSha256 = `SHA-256=${sha256("x")},${sha512(other)}`;
    expect((await sendStoringNothing(signRaw(inbox(), other, sender, { digest: wrongSha256 }))).status).toBe(401);
  });
});

describe("key-fetch abuse", () => {
  // Also: RATE_LIMIT_INBOX counts only verified requests, per verified host; a host past it is refused before any key fetch (inbox-rate-limit-verified.test.ts).
  it("a keyId that cannot be fetched is asked for once, then remembered as missing: 401 each time, one fetch", async () => {
    const keyId = `${remote.url}/keys/absent-${randomUUID()}`;
    const fetches = () => remote.requests.filter((request) => request.path === new URL(keyId).pathname).length;
    for (let i = 0; i < 5; i++) {
      const response = await sendStoringNothing(post(message(), { keyId }));
      expect(response.status).toBe(401);
    }
    expect(fetches()).toBe(1);
  });
});

describe("replay", () => {
  it("a captured request replayed inside the window: 202 each time, stored once", async () => {
    const activity = message({ content: "replayed" });
    const raw = post(activity, { date: new Date(Date.now() - 50 * 60_000) });
    const before = await stored(parley);
    expect((await send(raw)).status).toBe(202);
    await settled(parley);
    const after = await stored(parley);
    expect(after).toEqual({ inbox: before.inbox + 1, messages: before.messages + 1 });
    for (let i = 0; i < 3; i++) expect((await send(raw)).status).toBe(202);
    // The same body through bob's own inbox too.
    expect((await send(signRaw(`${parley.url}/users/bob/inbox`, JSON.stringify(activity), sender))).status).toBe(202);
    await settled(parley);
    expect(await stored(parley)).toEqual(after);
    const sql = parley.parley.deps.db.$client;
    expect((await sql`SELECT count(*)::int AS n FROM messages WHERE content LIKE '%replayed%'`)[0].n).toBe(1);
  });

  it("the same object in a new activity (a replay with a fresh id) is not stored again", async () => {
    const first = message({ content: "object replay" });
    expect((await send(post(first))).status).toBe(202);
    await settled(parley);
    const before = await stored(parley);
    const again = { ...first, id: `${remote.url}/activities/${randomUUID()}` };
    expect((await sendStoringNothing(post(again))).status).toBe(202);
    expect(await stored(parley)).toEqual(before);
  });

  it("a captured request replayed after the window: 401", async () => {
    const activity = message({ content: "late replay" });
    const stale = post(activity, { date: new Date(Date.now() - 2 * 3600_000) });
    expect((await sendStoringNothing(stale)).status).toBe(401);
  });
});

describe("key owner and actor", () => {
  it("no actor: 400, nothing stored", async () => {
    const response = await sendStoringNothing(post(message({}, { actor: undefined })));
    expect(response.status).toBe(400);
  });

  it("an actor that is not a URL: 400 or 401, nothing stored", async () => {
    const response = await sendStoringNothing(post(message({}, { actor: "sender" })));
    expect([400, 401]).toContain(response.status);
  });

  it("two actors, the signer first: 422 actor_mismatch, nothing stored", async () => {
    const other = remote.actor("other");
    const response = await sendStoringNothing(post(message({}, { actor: [sender.id, other.id] })));
    expect(response).toEqual({ status: 422, body: { error: "invalid_chat_message", reason: "actor_mismatch" } });
  });

  it.each(["Key", "CryptographicKey"])("a bare %s of another server whose owner is our actor: 401, nothing stored", async (type) => {
    // evil serves a bare key claiming to belong to `sender` on another origin.
    const mallory = evil.actor(`mallory_${type}`);
    evil.route(`/keys/${type}`, (_req, res) =>
      res.writeHead(200, { "content-type": "application/activity+json" }).end(
        JSON.stringify({
          "@context": "https://w3id.org/security/v1",
          id: `${evil.url}/keys/${type}`,
          type,
          owner: sender.id,
          publicKeyPem: mallory.publicKeyPem,
        }),
      ),
    );
    const forged = { keyId: `${evil.url}/keys/${type}`, privateKeyPem: mallory.privateKeyPem };
    const response = await sendStoringNothing(post(message({ content: "forged" }), {}, forged));
    expect(response.status).toBe(401);
  });

  it("the same spelled with a full IRI and a context alias: 401, nothing stored", async () => {
    const mallory = evil.actor("mallory_alias");
    mallory.document["@context"] = [
      "https://www.w3.org/ns/activitystreams",
      "https://w3id.org/security/v1",
      { boss: "https://w3id.org/security#owner" },
    ];
    mallory.document.publicKey = { id: mallory.keyId, boss: { id: sender.id }, publicKeyPem: mallory.publicKeyPem };
    const response = await sendStoringNothing(post(message({ content: "forged alias" }), {}, mallory));
    expect(response.status).toBe(401);
  });

  it("an actor of another server whose publicKey names our actor as owner: 401, nothing stored", async () => {
    const mallory = evil.actor("mallory2");
    (mallory.document.publicKey as Json).owner = sender.id;
    const response = await sendStoringNothing(post(message({ content: "forged 2" }), {}, mallory));
    expect(response.status).toBe(401);
  });

  it("an actor document served by another server claiming our actor's id: 401, nothing stored", async () => {
    const mallory = evil.actor("mallory3");
    mallory.document.id = sender.id;
    (mallory.document.publicKey as Json).owner = sender.id;
    const response = await sendStoringNothing(post(message({ content: "forged 3" }), {}, mallory));
    expect(response.status).toBe(401);
  });
});

describe("ids across origins", () => {
  it("a ChatMessage id on another server: 422 foreign_object_id, nothing stored", async () => {
    const response = await sendStoringNothing(post(message({ id: `${evil.url}/objects/${randomUUID()}` })));
    expect(response).toEqual({ status: 422, body: { error: "invalid_chat_message", reason: "foreign_object_id" } });
  });

  it("a ChatMessage attributed to an actor of another server: 422 actor_mismatch, nothing stored", async () => {
    const victim = evil.actor("victim");
    const response = await sendStoringNothing(post(message({ attributedTo: victim.id, actor: victim.id })));
    expect(response).toEqual({ status: 422, body: { error: "invalid_chat_message", reason: "actor_mismatch" } });
  });

  it("a Delete of another server's object is a no-op (202), the message stays", async () => {
    const victim = remote.actor("victim_del");
    const original = pleromaChatMessage(victim, bobUri, { content: "keep me" });
    expect((await send(post(original, {}, victim))).status).toBe(202);
    await settled(parley);
    const mallory = evil.actor("deleter");
    const del = {
      "@context": "https://www.w3.org/ns/activitystreams",
      id: `${evil.url}/activities/${randomUUID()}`,
      type: "Delete",
      actor: mallory.id,
      to: [bobUri],
      object: original.object.id,
    };
    expect((await send(post(del, {}, mallory))).status).toBe(202);
    await settled(parley);
    const sql = parley.parley.deps.db.$client;
    const [row] = await sql`SELECT content, deleted_at FROM messages WHERE uri = ${original.object.id}`;
    expect(row.deleted_at).toBeNull();
    expect(row.content).toContain("keep me");
  });
});

describe("JSON-LD tricks", () => {
  it("an activity wrapped in @graph: ignored (202, no activity type at the top), nothing stored", async () => {
    const activity = message({ content: "graph" });
    const { "@context": context, ...rest } = activity;
    const response = await sendStoringNothing(post({ "@context": context, "@graph": [rest] }));
    expect([202, 400]).toContain(response.status);
  });

  it("@included carrying a second ChatMessage: only the activity's own object counts", async () => {
    const smuggled = message({ content: "smuggled" });
    const activity = message({ content: "carrier" }, { "@included": [smuggled.object] });
    await send(post(activity));
    await settled(parley);
    const sql = parley.parley.deps.db.$client;
    expect((await sql`SELECT count(*)::int AS n FROM messages WHERE content LIKE '%smuggled%'`)[0].n).toBe(0);
  });

  it("@reverse: refused or ignored, nothing stored from it", async () => {
    const activity = message({ content: "reverse" }, { "@reverse": { object: message({ content: "reversed" }).object } });
    await send(post(activity));
    await settled(parley);
    const sql = parley.parley.deps.db.$client;
    expect((await sql`SELECT count(*)::int AS n FROM messages WHERE content LIKE '%reversed%'`)[0].n).toBe(0);
  });
});

describe("blocks at every entry", () => {
  it("a blocked actor host is refused even with a key on an unblocked host (403 or 401), nothing stored", async () => {
    const admin = api(parley.url, parley.adminToken);
    const blocked = await startRemoteServer();
    try {
      const villain = blocked.actor("villain");
      const block = await admin.post("/api/v1/admin/domain_blocks", { domain: new URL(blocked.url).host });
      expect(block.status).toBe(200);
      // The villain's key served by the unblocked evil host, owned by the villain.
      evil.route("/keys/villain", (_req, res) =>
        res.writeHead(200, { "content-type": "application/activity+json" }).end(
          JSON.stringify({
            "@context": "https://w3id.org/security/v1",
            id: `${evil.url}/keys/villain`,
            type: "Key",
            owner: villain.id,
            publicKeyPem: villain.publicKeyPem,
          }),
        ),
      );
      const activity = pleromaChatMessage(villain, bobUri);
      const viaOwnKey = await sendStoringNothing(post(activity, {}, villain));
      expect(viaOwnKey.status).toBe(403);
      const viaOtherHost = await sendStoringNothing(
        post(activity, {}, { keyId: `${evil.url}/keys/villain`, privateKeyPem: villain.privateKeyPem }),
      );
      expect([401, 403]).toContain(viaOtherHost.status);
      await admin.delete(`/api/v1/admin/domain_blocks/${block.body.id}`);
    } finally {
      await blocked.close();
    }
  });

  it("a blocked key host cannot sign for an actor of an unblocked host (401 or 403), nothing stored", async () => {
    const admin = api(parley.url, parley.adminToken);
    const block = await admin.post("/api/v1/admin/domain_blocks", { domain: new URL(evil.url).host });
    expect(block.status).toBe(200);
    try {
      const mallory = evil.actor("blocked_signer");
      evil.route("/keys/2", (_req, res) =>
        res.writeHead(200, { "content-type": "application/activity+json" }).end(
          JSON.stringify({
            "@context": "https://w3id.org/security/v1",
            id: `${evil.url}/keys/2`,
            type: "CryptographicKey",
            owner: sender.id,
            publicKeyPem: mallory.publicKeyPem,
          }),
        ),
      );
      const response = await sendStoringNothing(post(message(), {}, { keyId: `${evil.url}/keys/2`, privateKeyPem: mallory.privateKeyPem }));
      expect([401, 403]).toContain(response.status);
    } finally {
      await admin.delete(`/api/v1/admin/domain_blocks/${block.body.id}`);
    }
  });
});

describe("authorization across accounts", () => {
  const { account, as, chatWith, send } = chatHelpers(() => parley);
  const sql = () => parley.parley.deps.db.$client;
  const unread = async (token: string) => (await api(parley.url, token).get("/api/v1/notifications?types[]=pleroma:chat_mention")).body;

  it("every admin route refuses a user's token (403, as Pleroma) and changes nothing", async () => {
    const [user, victim, peer] = [await account("plain"), await account("admin_victim"), await account("admin_peer")];
    const chat = await chatWith(victim, peer);
    const message = (await send(victim, chat, "moderate me")).id;
    const block = await api(parley.url, parley.adminToken).post("/api/v1/admin/domain_blocks", { domain: "blocked.example" });
    expect(block.status).toBe(200);
    const form = new FormData();
    form.set("shortcode", "sneaky");
    form.set("file", new Blob([new Uint8Array(png())]), "sneaky.png");
    const counts = async () =>
      (
        await sql()`SELECT (SELECT count(*) FROM accounts)::int AS accounts, (SELECT count(*) FROM access_tokens)::int AS tokens,
        (SELECT count(*) FROM domain_blocks)::int AS blocks, (SELECT count(*) FROM custom_emojis)::int AS emojis,
        (SELECT count(*) FROM messages WHERE deleted_at IS NULL)::int AS messages`
      )[0];
    const before = await counts();
    const routes: [string, string, unknown?][] = [
      ["post", "/api/v1/admin/accounts", { username: "created_by_user" }],
      ["post", `/api/v1/admin/accounts/${victim.account.id}/tokens`],
      ["delete", `/api/v1/admin/accounts/${victim.account.id}`],
      ["get", "/api/v1/admin/domain_blocks"],
      ["post", "/api/v1/admin/domain_blocks", { domain: "other.example" }],
      ["delete", `/api/v1/admin/domain_blocks/${block.body.id}`],
      ["post", "/api/v1/admin/custom_emojis", form],
      ["delete", "/api/v1/admin/custom_emojis/sneaky"],
      ["get", `/api/v1/pleroma/admin/chats/${chat}`],
      ["get", `/api/v1/pleroma/admin/chats/${chat}/messages`],
      ["delete", `/api/v1/pleroma/admin/chats/${chat}/messages/${message}`],
    ];
    for (const token of [user.token, victim.token]) {
      for (const [method, path, body] of routes) {
        const client = api(parley.url, token) as any;
        const response = method === "get" || method === "delete" ? await client[method](path) : await client[method](path, body);
        expect([method, path, response.status, response.body?.error]).toEqual([method, path, 403, "forbidden"]);
      }
      // The dashboard is not a Pleroma API: any credential but ADMIN_TOKEN gets its login challenge.
      const board = await fetch(`${parley.url}/admin/queues/api/queues`, { headers: { authorization: `Bearer ${token}` } });
      expect(board.status).toBe(401);
      const basic = await fetch(`${parley.url}/admin/queues/api/queues`, {
        headers: { authorization: `Basic ${Buffer.from(`x:${token}`).toString("base64")}` },
      });
      expect(basic.status).toBe(401);
    }
    expect(await counts()).toEqual(before);
    // The victim's token still works.
    expect((await as(victim).get("/api/v1/accounts/verify_credentials")).status).toBe(200);
    await api(parley.url, parley.adminToken).delete(`/api/v1/admin/domain_blocks/${block.body.id}`);
  });

  it("another account's notification cannot be read, dismissed or marked seen", async () => {
    const [writer, owner, intruder] = [await account("n_writer"), await account("n_owner"), await account("n_intruder")];
    await send(writer, await chatWith(writer, owner), "for the owner");
    const [theirs] = await unread(owner.token);
    expect(theirs.pleroma.is_seen).toBe(false);
    expect((await as(intruder).get(`/api/v1/notifications/${theirs.id}`)).status).toBe(404);
    expect((await as(intruder).post(`/api/v1/notifications/${theirs.id}/dismiss`)).status).toBe(404);
    expect((await as(intruder).post("/api/v1/pleroma/notifications/read", { id: theirs.id })).status).toBe(404);
    const byMax = await as(intruder).post("/api/v1/pleroma/notifications/read", { max_id: theirs.id });
    expect(byMax.status).toBe(200);
    expect(byMax.body).toEqual([]);
    expect((await as(intruder).post("/api/v1/notifications/clear")).status).toBe(200);
    const [after] = await unread(owner.token);
    expect(after).toMatchObject({ id: theirs.id, pleroma: { is_seen: false } });
  });

  it("another account's media cannot be read, described or attached", async () => {
    const [owner, intruder, peer] = [await account("m_owner"), await account("m_intruder"), await account("m_peer")];
    const form = new FormData();
    form.set("file", new Blob([new Uint8Array(png())], { type: "image/png" }), "a.png");
    form.set("description", "the owner's");
    const uploaded = await as(owner).post("/api/v1/media", form);
    expect(uploaded.status).toBe(200);
    expect((await as(intruder).get(`/api/v1/media/${uploaded.body.id}`)).status).toBe(404);
    expect((await as(intruder).put(`/api/v1/media/${uploaded.body.id}`, { description: "defaced" })).status).toBe(404);
    const chat = await chatWith(intruder, peer);
    const attach = await as(intruder).post(`/api/v1/pleroma/chats/${chat}/messages`, { content: "look", media_id: uploaded.body.id });
    expect(attach.status).toBe(400);
    expect((await as(owner).get(`/api/v1/media/${uploaded.body.id}`)).body.description).toBe("the owner's");
    expect((await as(intruder).get(`/api/v1/pleroma/chats/${chat}/messages`)).body).toEqual([]);
  });

  it("another chat's message id as last_read_id marks nothing in either chat", async () => {
    const [alice, bob, carol] = [await account("r_alice"), await account("r_bob"), await account("r_carol")];
    const bobChatWithCarol = await chatWith(carol, bob);
    const carolMessage = (await send(carol, bobChatWithCarol, "to bob")).id;
    const aliceChat = await chatWith(bob, alice);
    await send(alice, await chatWith(alice, bob), "to bob from alice");
    // last_read_id is a bound on this chat's own ids (they sort by time), as in Pleroma: an id of
    // another chat bounds nothing here (carol's is older than alice's message) and reaches no other chat.
    const response = await as(bob).post(`/api/v1/pleroma/chats/${aliceChat}/read`, { last_read_id: carolMessage });
    expect([200, 404]).toContain(response.status);
    const chats = (await as(bob).get("/api/v1/pleroma/chats")).body as { id: string; unread: number }[];
    expect(chats.map((c) => c.unread)).toEqual([1, 1]);
  });

  it("a chat with an unknown or malformed account id is a 404 and creates nothing", async () => {
    const alice = await account("c_alice");
    const before = (await sql()`SELECT count(*)::int AS n FROM chats`)[0].n;
    for (const id of ["01jzzzzzzzzzzzzzzzzzzzzzzz", "nope", "1%20OR%201=1"]) {
      expect((await as(alice).post(`/api/v1/pleroma/chats/by-account-id/${id}`)).status).toBe(404);
    }
    expect((await sql()`SELECT count(*)::int AS n FROM chats`)[0].n).toBe(before);
  });

  it("objects of a chat are not served to a signed request from a server of neither participant (404)", async () => {
    const [alice, bob] = [await account("o_alice"), await account("o_bob")];
    const chat = await chatWith(alice, bob);
    await send(alice, chat, "local only");
    const [row] = await sql()`SELECT uri, activity_uri FROM messages WHERE content LIKE '%local only%'`;
    for (const url of [row.uri, row.activity_uri]) expect((await signedGet(url, sender)).status).toBe(404);
  });
});

describe("signed GETs of our objects", () => {
  it("a participant's signature must cover host and date: without them 404, with them 200", async () => {
    const rob = remote.actor("rob_get", { capabilities: { acceptsChatMessages: true } });
    const carol = await createAccount(parley, "carol_get");
    const asCarol = api(parley.url, carol.token);
    const found = await asCarol.get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(rob.id)}`);
    const chat = await asCarol.post(`/api/v1/pleroma/chats/by-account-id/${found.body.id}`);
    expect((await asCarol.post(`/api/v1/pleroma/chats/${chat.body.id}/messages`, { content: "fetch me" })).status).toBe(200);
    const [row] = await parley.parley.deps.db.$client`SELECT uri FROM messages WHERE content LIKE '%fetch me%'`;
    const get = (options: RawSignOptions) => send(signRaw(row.uri, undefined, rob, { method: "GET", ...options }));
    expect((await get({})).status).toBe(200);
    expect((await get({ headers: ["(request-target)", "date"] })).status).toBe(404);
    expect((await get({ headers: ["(request-target)", "host"] })).status).toBe(404);
    expect((await get({ date: new Date(Date.now() + 2 * 3600_000) })).status).toBe(404);
    expect((await get({ hash: "RSA-SHA1", algorithm: "rsa-sha1" })).status).toBe(404);
  });
});
