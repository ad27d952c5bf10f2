import { createPrivateKey } from "node:crypto";
import { request } from "node:http";
import { signJsonLd } from "@fedify/fedify";
import { type Json, pleromaChatMessage, stored } from "./helpers/inbox.js";
import { createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";

/**
 * Issue 13 item 4: RATE_LIMIT_INBOX (10 per window here) is spent only by requests whose signature
 * verified, per host of the verified signer. Forgers naming a peer's key cannot spend it; a
 * sender cannot dodge it with several keyIds (refused 401 before any work) nor by another
 * authentication path (a Linked Data signature counts against the same host).
 */

const LIMIT = 10;
let parley: TestParley;
let peer: RemoteServer;
let busy: RemoteServer;
let bobUri: string;

beforeAll(async () => {
  [parley, peer, busy] = await Promise.all([
    startTestParley({ env: { RATE_LIMIT_INBOX: `${LIMIT}/3600` } }),
    startRemoteServer(),
    startRemoteServer(),
  ]);
  await createAccount(parley, "bob");
  bobUri = `${parley.url}/users/bob`;
}, 60_000);
afterAll(async () => {
  await Promise.all([parley?.close(), peer?.close(), busy?.close()]);
});

/** A raw POST (node:http: headers exactly as given, duplicates kept). */
function rawPost(
  path: string,
  headers: [string, string][],
  body: string,
): Promise<{ status: number; headers: Record<string, unknown>; json: any }> {
  const target = new URL(parley.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        method: "POST",
        path,
        headers: [["host", target.host], ...headers].flat() as unknown as Record<string, string>,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const forgedSignature = (keyId: string) =>
  `keyId="${keyId}",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="AAAA"`;

function forged(actor: RemoteActor, signature = forgedSignature(actor.keyId)) {
  const body = JSON.stringify(pleromaChatMessage(actor, bobUri));
  return rawPost(
    "/inbox",
    [
      ["content-type", "application/activity+json"],
      ["date", new Date().toUTCString()],
      ["signature", signature],
    ],
    body,
  );
}

it("10 forged requests naming a peer's keyId spend nothing: the peer's genuine Create passes", async () => {
  const sender = peer.actor("sender");
  for (let i = 0; i < LIMIT; i++) expect((await forged(sender)).status).toBe(401);
  const genuine = await signedPost(`${parley.url}/inbox`, pleromaChatMessage(sender, bobUri), sender);
  expect(genuine.status).toBe(202);
  expect(genuine.headers["x-ratelimit-remaining"]).toBe(String(LIMIT - 1));
});

describe("one request, one key: refused 401 with the reason before any work", () => {
  it("two keyId entries (whatever their spelling), or a parameter given twice", async () => {
    const sender = peer.actor("twice");
    const other = busy.actor("other");
    const cases: [string, string][] = [
      [`keyId="${other.keyId}",${forgedSignature(sender.keyId)}`, "multiple_key_ids"],
      [`${forgedSignature(sender.keyId)},KeyId="${other.keyId}"`, "multiple_key_ids"],
      [`${forgedSignature(sender.keyId)},headers="date"`, "duplicate_signature_parameter"],
      [`${forgedSignature(sender.keyId)},signature="BBBB"`, "duplicate_signature_parameter"],
    ];
    for (const [signature, reason] of cases) {
      const answer = await forged(sender, signature);
      expect([answer.status, answer.json.error, answer.json.reason]).toEqual([401, "invalid_signature", reason]);
    }
    // Two Signature headers arrive joined by a comma: the same refusal.
    const body = JSON.stringify(pleromaChatMessage(sender, bobUri));
    const joined = await rawPost(
      "/inbox",
      [
        ["content-type", "application/activity+json"],
        ["date", new Date().toUTCString()],
        ["signature", forgedSignature(other.keyId)],
        ["signature", forgedSignature(sender.keyId)],
      ],
      body,
    );
    expect([joined.status, joined.json.reason]).toEqual([401, "multiple_key_ids"]);
    // RFC 9421 with two labels (two keys to fetch): refused the same way.
    const rfc9421 = await rawPost(
      "/inbox",
      [
        ["content-type", "application/activity+json"],
        [
          "signature-input",
          `a=("@method");created=${Math.floor(Date.now() / 1000)};keyid="${sender.keyId}", b=("@method");created=1;keyid="${other.keyId}"`,
        ],
        ["signature", "a=:AAAA:, b=:AAAA:"],
      ],
      body,
    );
    expect([rfc9421.status, rfc9421.json.reason]).toEqual([401, "multiple_signatures"]);
    // Nothing was fetched: neither key was asked for.
    const fetched = [...peer.requests, ...busy.requests].filter((r) => r.path === "/users/twice" || r.path === "/users/other");
    expect(fetched).toEqual([]);
  });
});

describe("a busy host: at most 10 verified requests in a window, however it signs", () => {
  let actors: RemoteActor[];

  it("15 valid Creates from one host (three actors): 10 accepted and stored, 5 refused 429 + Retry-After, nothing stored for them", async () => {
    actors = [busy.actor("a1"), busy.actor("a2"), busy.actor("a3")];
    const before = await stored(parley);
    const answers = [];
    for (let i = 0; i < 15; i++) {
      const actor = actors[i % actors.length];
      answers.push(await signedPost(`${parley.url}/inbox`, pleromaChatMessage(actor, bobUri), actor));
    }
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(LIMIT);
    expect(statuses.slice(0, LIMIT).every((s) => s === 202)).toBe(true);
    for (const refused of answers.slice(LIMIT)) {
      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body)).toEqual({ error: "rate_limited" });
      const retryAfter = Number(refused.headers["retry-after"]);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(3600);
    }
    expect((await stored(parley)).inbox - before.inbox).toBe(LIMIT);
  });

  it("past the limit, a request naming the host is refused before verification (no key fetch, no RSA)", async () => {
    const answer = await forged(actors[0]);
    expect(answer.status).toBe(429);
    expect(Number(answer.headers["retry-after"])).toBeGreaterThan(0);
  });

  it("no dodging: a Linked Data signature (no HTTP signature) counts against the same host", async () => {
    const actor = actors[1];
    const document: Json = {
      ...pleromaChatMessage(actor, bobUri),
      "@context": [
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        { ChatMessage: "http://litepub.social/ns#ChatMessage" },
      ],
    };
    const der = createPrivateKey(actor.privateKeyPem).export({ format: "der", type: "pkcs8" });
    const key = await crypto.subtle.importKey("pkcs8", der, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["sign"]);
    const signed = await signJsonLd(document, key, new URL(actor.keyId), {});
    // Compared by activities: those accepted before may still be turning into messages.
    const before = (await stored(parley)).inbox;
    const answer = await rawPost("/inbox", [["content-type", "application/activity+json"]], JSON.stringify(signed));
    expect(answer.status).toBe(429);
    expect((await stored(parley)).inbox).toBe(before);
  });

  it("another host keeps its own budget", async () => {
    const sender = peer.actor("still-fine");
    expect((await signedPost(`${parley.url}/inbox`, pleromaChatMessage(sender, bobUri), sender)).status).toBe(202);
  });
});
