import postgres from "postgres";
import { MlsClient } from "./helpers/mls-client.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * KeyPackages (MLS over ActivityPub): published through the C2S outbox with the owner's token,
 * listed in the actor's `keyPackages` collection, fetched by anyone, refused when forged, removed
 * by Delete or Remove, capped at 20 live per actor. Real ts-mls clients make the packages.
 */

let parley: TestParley;
type Account = Awaited<ReturnType<typeof createAccount>>;
let alice: Account;
let bob: Account;
let aliceUri: string;

beforeAll(async () => {
  parley = await startTestParley();
  [alice, bob] = await Promise.all([createAccount(parley, "alice"), createAccount(parley, "bob")]);
  aliceUri = `${parley.url}/users/alice`;
}, 60_000);

afterAll(async () => {
  await parley?.close();
});

async function postOutbox(body: unknown, token: string | null = alice.token, user = "alice") {
  const response = await fetch(`${parley.url}/users/${user}/outbox`, {
    method: "POST",
    headers: { "content-type": "application/activity+json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, location: response.headers.get("location"), body: text ? JSON.parse(text) : undefined };
}

const createOf = (object: Record<string, unknown>, actor = aliceUri) => ({
  "@context": ["https://www.w3.org/ns/activitystreams", "https://purl.archive.org/socialweb/mls"],
  type: "Create",
  actor,
  to: "as:Public",
  object: { attributedTo: actor, to: "as:Public", ...object },
});

async function publish(client: MlsClient, extra: Record<string, unknown> = {}) {
  return postOutbox(
    createOf({ ...client.keyPackageObject(), generator: { id: "https://app.example/e2ee", type: "Application" }, ...extra }),
  );
}

const collection = async () => (await api(parley.url).get(`/users/alice/key-packages`)).body;

describe("KeyPackages", () => {
  it("the actor document names its keyPackages and messages collections", async () => {
    const actor = await api(parley.url).get("/users/alice", { accept: "application/activity+json" });
    expect(actor.status).toBe(200);
    expect(actor.body).toMatchObject({ keyPackages: `${aliceUri}/key-packages`, messages: `${aliceUri}/mls-messages` });
  });

  it("publishes with the owner's token: 201, listed newest first, fetchable by anyone as sent", async () => {
    const client = await MlsClient.create(aliceUri);
    const first = await publish(client);
    expect(first.status).toBe(201);
    expect(first.location).toBe(first.body.id);
    const object = first.body.object;
    expect(object).toMatchObject({
      type: "KeyPackage",
      attributedTo: aliceUri,
      mediaType: "message/mls",
      encoding: "base64",
      content: client.keyPackageObject().content,
      ciphersuite: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
      generator: { id: "https://app.example/e2ee", type: "Application" },
    });
    expect(object.id).toMatch(new RegExp(`^${parley.url}/key-packages/[a-h][0-9a-z]{25}$`));

    await client.newKeyPackage();
    const second = await publish(client);
    expect(second.status).toBe(201);
    const listed = await collection();
    expect(listed).toMatchObject({ type: "Collection", id: `${aliceUri}/key-packages`, totalItems: 2 });
    expect(listed.items).toEqual([second.body.object.id, first.body.object.id]);

    const fetched = await fetch(object.id, { headers: { accept: "application/activity+json" } });
    expect(fetched.status).toBe(200);
    expect(fetched.headers.get("content-type")).toMatch(/application\/activity\+json/);
    expect(await fetched.json()).toMatchObject({ id: object.id, content: object.content, attributedTo: aliceUri });
  });

  it("refuses a forged or broken package with 422 and the reason, storing nothing", async () => {
    const before = (await collection()).totalItems;
    const foreign = await MlsClient.create(`${parley.url}/users/bob`);
    expect((await publish(foreign)).body).toEqual({
      error: "invalid_mls_object",
      reason: "identity_mismatch",
      field: "content",
      detail: `identity ${parley.url}/users/bob`,
    });

    const mine = await MlsClient.create(aliceUri);
    const good = mine.keyPackageObject();
    const bytes = Buffer.from(good.content, "base64");
    bytes[bytes.length - 10] ^= 0xff; // inside the signature
    const tampered = await publish(mine, { content: bytes.toString("base64") });
    expect(tampered.status).toBe(422);
    expect(tampered.body.reason).toBe("bad_signature");

    expect((await publish(mine, { content: "not base64!" })).body).toMatchObject({ reason: "bad_base64", field: "content" });
    const oversize = await publish(mine, { content: Buffer.alloc(40 * 1024, 1).toString("base64") });
    expect(oversize.body).toMatchObject({ reason: "too_large", field: "content" });
    expect((await publish(mine, { ciphersuite: "MLS_256_XWING_AES256GCM_SHA512_Ed25519" })).body.reason).toBe("suite_mismatch");
    expect((await postOutbox(createOf(good, `${parley.url}/users/bob`))).body).toMatchObject({ reason: "actor_mismatch" });
    expect((await collection()).totalItems).toBe(before);
  });

  it("only the owner's token publishes: none 401, another account's 403", async () => {
    const client = await MlsClient.create(aliceUri);
    expect((await postOutbox(createOf(client.keyPackageObject()), null)).status).toBe(401);
    expect((await postOutbox(createOf(client.keyPackageObject()), bob.token)).status).toBe(403);
  });

  it("Delete and Remove take a package out of the collection (GET then 410); Add is accepted; others' packages are not the caller's", async () => {
    const client = await MlsClient.create(aliceUri);
    const published = (await publish(client)).body.object.id as string;
    expect((await postOutbox({ type: "Add", actor: aliceUri, object: published, target: `${aliceUri}/key-packages` })).status).toBe(201);

    const bobClient = await MlsClient.create(`${parley.url}/users/bob`);
    const bobs = await postOutbox(createOf(bobClient.keyPackageObject(), `${parley.url}/users/bob`), bob.token, "bob");
    expect(bobs.status).toBe(201);
    expect((await postOutbox({ type: "Delete", actor: aliceUri, object: bobs.body.object.id })).status).toBe(403);

    const deleted = await postOutbox({ type: "Delete", actor: aliceUri, object: published });
    expect(deleted.status).toBe(201);
    expect(deleted.body).toMatchObject({ type: "Delete", actor: aliceUri, object: published });
    expect((await collection()).items).not.toContain(published);
    expect((await fetch(published)).status).toBe(410);
    // A deleted package cannot be added back.
    expect((await postOutbox({ type: "Add", actor: aliceUri, object: published, target: `${aliceUri}/key-packages` })).body).toMatchObject({
      error: "invalid_mls_object",
      reason: "key_package_not_live",
    });

    await client.newKeyPackage();
    const other = (await publish(client)).body.object.id as string;
    expect((await postOutbox({ type: "Remove", actor: aliceUri, object: { id: other }, target: `${aliceUri}/key-packages` })).status).toBe(
      201,
    );
    expect((await collection()).items).not.toContain(other);
    // An unknown package is already gone: success, as the draft's implementations answer.
    expect(
      (await postOutbox({ type: "Delete", actor: aliceUri, object: `${parley.url}/key-packages/hzzzzzzzzzzzzzzzzzzzzzzzzz` })).status,
    ).toBe(201);
  });

  it("holds at most 20 live packages per actor, also under concurrent publications", async () => {
    const sql = postgres(parley.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const [{ live }] = await sql`SELECT count(*)::int AS live FROM mls_key_packages k JOIN accounts a ON a.id = k.account_id
        WHERE a.username = 'alice' AND removed_at IS NULL AND consumed_at IS NULL`;
      const clients = await Promise.all(Array.from({ length: 25 - live }, () => MlsClient.create(aliceUri)));
      const answers = await Promise.all(clients.map((client) => publish(client)));
      expect(answers.filter((a) => a.status === 201)).toHaveLength(20 - live);
      const refused = answers.filter((a) => a.status !== 201);
      expect(refused.map((a) => [a.status, a.body.reason])).toEqual(refused.map(() => [422, "too_many_key_packages"]));
      expect((await collection()).totalItems).toBe(20);
    } finally {
      await sql.end();
    }
  });

  it("a package published twice is a conflict naming the first", async () => {
    const bobClient = await MlsClient.create(`${parley.url}/users/bob`);
    const object = createOf(bobClient.keyPackageObject(), `${parley.url}/users/bob`);
    const first = await postOutbox(object, bob.token, "bob");
    const again = await postOutbox(object, bob.token, "bob");
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ error: "invalid_mls_object", reason: "duplicate_key_package", existing: first.body.object.id });
  });

  it("a ChatMessage still goes through the outbox as before", async () => {
    const chat = await postOutbox({ type: "ChatMessage", to: [`${parley.url}/users/bob`], content: "hi bob" });
    expect(chat.status).toBe(201);
    expect(chat.body.object).toMatchObject({ type: "ChatMessage" });
  });
});
