import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, webcrypto } from "node:crypto";
import { withoutUnsafeCharacters } from "../src/federation/actor-text.js";
import { RemoteActorError, remoteDocumentLoader, resolveRemoteActor } from "../src/federation/remote-actors.js";
import { eventually, pleromaChatMessage } from "./helpers/inbox.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";

/**
 * Remote actors checked at the door (issue 13): usernames with bidi, zero-width or control
 * characters are refused (an acct never shows them), display names lose them; an RSA key whose
 * public exponent is not 65537 is refused, so a request signed with it answers 401.
 */

let parley: TestParley;
let remote: RemoteServer;
let token: string;
let host: string;

beforeAll(async () => {
  [parley, remote] = await Promise.all([startTestParley(), startRemoteServer({ webfinger: true })]);
  token = (await createAccount(parley, "bob")).token;
  host = new URL(remote.url).host;
});
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close()]);
});

const deps = () => parley.parley.deps;
const sql = () => parley.parley.deps.db.$client;
const UNSAFE = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C\u200B-\u200D\u2060\uFEFF\p{Cc}]/u;

async function refusal(call: Promise<unknown>): Promise<{ code: string; message: string } | "ok"> {
  try {
    await call;
    return "ok";
  } catch (error) {
    if (error instanceof RemoteActorError) return { code: error.code, message: error.message };
    throw error;
  }
}

describe("remote usernames and display names", () => {
  const unsafeNames: [string, string][] = [
    ["right-to-left override", "ali\u202Ece"],
    ["isolate", "bo\u2066b\u2069"],
    ["left-to-right mark", "carol\u200E"],
    ["Arabic letter mark", "da\u061Cn"],
    ["zero-width space", "e\u200Bve"],
    ["zero-width joiner", "fr\u200Dank"],
    ["word joiner", "gr\u2060ace"],
    ["byte order mark at the start", "\uFEFFheidi"],
    ["control character", "iv\u0007an"],
    ["NUL", "ju\u0000dy"],
  ];

  it.each(unsafeNames)("refuses an actor whose preferredUsername has a %s", async (_what, username) => {
    const path = `u${randomBytes(4).toString("hex")}`;
    const actor = remote.actor(path, { preferredUsername: username });
    const outcome = await refusal(resolveRemoteActor(deps(), actor.id));
    expect(outcome).toMatchObject({ code: "invalid_actor", message: expect.stringMatching(/U\+[0-9A-F]{4}/) });
    expect(await sql()`SELECT 1 FROM accounts WHERE uri = ${actor.id}`).toHaveLength(0);
  });

  it("never lets such a name reach an acct: lookup answers 404, an inbound message from it fails for good", async () => {
    const actor = remote.actor("mallory", { preferredUsername: "mal\u202Elory", capabilities: { acceptsChatMessages: true } });
    const client = api(parley.url, token);
    expect((await client.get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(actor.id)}`)).status).toBe(404);
    const create = pleromaChatMessage(actor, `${parley.url}/users/bob`);
    expect((await signedPost(`${parley.url}/inbox`, create, actor)).status).toBe(202);
    const row = await eventually(async () => {
      const [found] = await sql()`SELECT status, error FROM inbox_activities WHERE activity_uri = ${create.id}`;
      return found?.status === "failed" ? found : undefined;
    }, 10_000);
    expect(row.error).toMatch(/invalid_actor/);
    expect(await sql()`SELECT 1 FROM messages WHERE uri = ${create.object.id}`).toHaveLength(0);
    const usernames = (await sql()`SELECT username, display_name FROM accounts`).flatMap((a) => [a.username, a.display_name ?? ""]);
    expect(usernames.filter((name) => UNSAFE.test(name))).toEqual([]);
  });

  it("strips those characters from a display name, keeping an emoji's joiner", async () => {
    const actor = remote.actor("trudy", { name: "Mallory\u202Egnp.exe\u200B\u2066x\u2069 👩‍💻\n\tok\u0000" });
    const found = await api(parley.url, token).get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(`trudy@${host}`)}`);
    expect(found.status).toBe(200);
    expect(found.body).toMatchObject({ acct: `trudy@${host}`, username: "trudy", display_name: "Mallorygnp.exex 👩‍💻 ok" });
    expect([found.body.acct, found.body.username].filter((name: string) => UNSAFE.test(name))).toEqual([]);
    expect(actor.document.name).toContain("\u202E");
  });

  it("cleans text as described", () => {
    expect(withoutUnsafeCharacters("a\u200Db")).toBe("ab");
    expect(withoutUnsafeCharacters("🏳️\u200D🌈 flag, 👩🏽\u200D💻 coder")).toBe("🏳️\u200D🌈 flag, 👩🏽\u200D💻 coder");
    expect(withoutUnsafeCharacters("\u200D👩 x")).toBe("👩 x");
    expect(withoutUnsafeCharacters("\uFEFF two\r\nlines\u0085 ")).toBe("two lines");
  });
});

/**
 * An RSA key pair whose public exponent is `e`: p and q from a normal key (another one while `e`
 * shares a factor with its λ), d computed for `e`.
 */
function rsaKeyWithExponent(e: bigint): { publicKeyPem: string; privateKeyPem: string } {
  for (;;) {
    const pair = rsaKeyTry(e);
    if (pair) return pair;
  }
}

function rsaKeyTry(e: bigint): { publicKeyPem: string; privateKeyPem: string } | undefined {
  const jwk = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
  const int = (b64: string | undefined) => BigInt(`0x${Buffer.from(b64!, "base64url").toString("hex")}`);
  const b64 = (n: bigint) => {
    const hex = n.toString(16);
    return Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex").toString("base64url");
  };
  const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));
  const inverse = (a: bigint, m: bigint) => {
    let [r0, r1, s0, s1] = [a % m, m, 1n, 0n];
    while (r1 !== 0n) {
      const q = r0 / r1;
      [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1];
    }
    return ((s0 % m) + m) % m;
  };
  const [p, q] = [int(jwk.p), int(jwk.q)];
  const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
  if (gcd(e, lambda) !== 1n) return undefined;
  const d = inverse(e, lambda);
  const key = createPrivateKey({
    format: "jwk",
    key: {
      kty: "RSA",
      n: jwk.n!,
      e: b64(e),
      d: b64(d),
      p: jwk.p!,
      q: jwk.q!,
      dp: b64(d % (p - 1n)),
      dq: b64(d % (q - 1n)),
      qi: b64(inverse(q, p)),
    },
  });
  return {
    publicKeyPem: createPublicKey(key).export({ type: "spki", format: "pem" }) as string,
    privateKeyPem: key.export({ type: "pkcs1", format: "pem" }) as string,
  };
}

/** A large odd exponent (about 2,000 bits) coprime with the key's λ, as the attack used. */
function largeExponentKey() {
  return rsaKeyWithExponent(BigInt(`0x${randomBytes(250).toString("hex")}`) | (1n << 1999n) | 1n);
}

function actorWithKey(username: string, pair: { publicKeyPem: string; privateKeyPem: string }): RemoteActor {
  const actor = remote.actor(username, { capabilities: { acceptsChatMessages: true } });
  Object.assign(actor, pair);
  actor.document.publicKey = { id: actor.keyId, owner: actor.id, publicKeyPem: pair.publicKeyPem };
  return actor;
}

/** Node's WebCrypto (what Fedify verifies with) would take the key: the refusal is Parley's own. */
async function webCryptoAccepts(publicKeyPem: string): Promise<boolean> {
  const der = createPublicKey(publicKeyPem).export({ type: "spki", format: "der" });
  const key = await webcrypto.subtle.importKey("spki", der, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["verify"]);
  return key.type === "public";
}

describe("RSA public exponent", () => {
  const cases: [string, () => { publicKeyPem: string; privateKeyPem: string }][] = [
    ["3", () => rsaKeyWithExponent(3n)],
    ["about 2,000 bits long", largeExponentKey],
  ];

  it.each(cases)("answers 401 to a Create signed with a key whose exponent is %s", async (_what, make) => {
    const pair = make();
    expect(await webCryptoAccepts(pair.publicKeyPem)).toBe(true);
    const actor = actorWithKey(`e${randomBytes(4).toString("hex")}`, pair);
    const create = pleromaChatMessage(actor, `${parley.url}/users/bob`);
    const answer = await signedPost(`${parley.url}/inbox`, create, actor);
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body)).toMatchObject({ error: "invalid_signature" });
    expect(await sql()`SELECT 1 FROM inbox_activities WHERE activity_uri = ${create.id}`).toHaveLength(0);
    await expect(remoteDocumentLoader({ allowPrivateAddress: true })(actor.keyId)).rejects.toThrow(/public exponent is not 65537/);
  });

  it("accepts the same request signed with an exponent of 65537", async () => {
    const actor = actorWithKey(`e${randomBytes(4).toString("hex")}`, rsaKeyWithExponent(65537n));
    const answer = await signedPost(`${parley.url}/inbox`, pleromaChatMessage(actor, `${parley.url}/users/bob`), actor);
    expect(answer.status).toBe(202);
  });
});

describe("remote fetch bound (REMOTE_FETCH_TIMEOUT_MS)", () => {
  /** A path of the remote server that never answers. */
  function hanging(path: string) {
    remote.route(path, () => {});
  }

  it("gives up an actor fetch after remoteFetchTimeoutMs", async () => {
    const actor = remote.actor(`h${randomBytes(4).toString("hex")}`);
    hanging(new URL(actor.id).pathname);
    const quick = { ...deps(), config: { ...deps().config, remoteFetchTimeoutMs: 300 } };
    expect(await refusal(resolveRemoteActor(quick, actor.id))).toMatchObject({ code: "timeout" });
  });

  it("gives up a key fetch of the loaders after remoteFetchTimeoutMs", async () => {
    hanging("/keys/hanging");
    const load = remoteDocumentLoader({ allowPrivateAddress: true, remoteFetchTimeoutMs: 300 });
    await expect(load(`${remote.url}/keys/hanging`)).rejects.toThrow(/timeout/);
  });

  it("answers 401 to a request whose key does not come within the bound (5 s by default), not after 30 s", async () => {
    expect(deps().config.remoteFetchTimeoutMs).toBe(5_000);
    const actor = remote.actor(`k${randomBytes(4).toString("hex")}`, { capabilities: { acceptsChatMessages: true } });
    actor.keyId = `${remote.url}/keys/${actor.username}`;
    hanging(`/keys/${actor.username}`);
    const startedAt = Date.now();
    const answer = await signedPost(`${parley.url}/inbox`, pleromaChatMessage(actor, `${parley.url}/users/bob`), actor);
    expect(answer.status).toBe(401);
    expect(Date.now() - startedAt).toBeLessThan(15_000);
  }, 30_000);
});
