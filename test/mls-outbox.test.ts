import postgres from "postgres";
import { eventually } from "./helpers/inbox.js";
import { MlsClient, type MlsObject } from "./helpers/mls-client.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteServer, startRemoteServer } from "./helpers/remote.js";

/**
 * MLS messages through the C2S outbox: ids assigned by Parley, stored once with a mailbox row per
 * local recipient, one signed POST per remote server (its shared inbox) whatever the number of its
 * recipients, content unchanged; the Commit gate answers 409 naming the first Commit of an epoch.
 */

let parley: TestParley;
let remote: RemoteServer;
let sql: postgres.Sql;
type Account = Awaited<ReturnType<typeof createAccount>>;
let alice: Account;
let bob: Account;
const uriOf = (name: string) => `${parley.url}/users/${name}`;

beforeAll(async () => {
  remote = await startRemoteServer();
  parley = await startTestParley();
  [alice, bob] = await Promise.all([createAccount(parley, "alice"), createAccount(parley, "bob")]);
  sql = postgres(parley.databaseUrl, { max: 1, onnotice: () => {} });
}, 60_000);

afterAll(async () => {
  await sql?.end();
  await parley?.close();
  await remote?.close();
});

async function postOutbox(body: unknown, token = alice.token, user = "alice") {
  const response = await fetch(`${parley.url}/users/${user}/outbox`, {
    method: "POST",
    headers: { "content-type": "application/activity+json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

const createOf = (object: MlsObject, to: string[], actor = uriOf("alice")) => ({
  "@context": ["https://www.w3.org/ns/activitystreams", "https://purl.archive.org/socialweb/mls"],
  type: "Create",
  actor,
  to,
  object: { ...object, attributedTo: actor, to },
});

async function keyPackageOf(client: MlsClient, token: string, user: string) {
  const published = await postOutbox(createOf(client.keyPackageObject(), ["as:Public"], uriOf(user)), token, user);
  expect(published.status).toBe(201);
  return published.body.object as MlsObject;
}

describe("MLS messages through the outbox", () => {
  it("a group of alice, bob (local) and two actors of one remote server: stored once, one POST to the shared inbox, decryptable", async () => {
    const rita = remote.actor("rita");
    const ravi = remote.actor("ravi");
    const aliceClient = await MlsClient.create(uriOf("alice"));
    const bobClient = await MlsClient.create(uriOf("bob"));
    const bobPackage = await keyPackageOf(bobClient, bob.token, "bob");

    await aliceClient.createGroup("group-1");
    const { commit, welcome } = await aliceClient.add([bobPackage]);
    expect((await postOutbox(createOf(commit, [uriOf("bob")]))).status).toBe(201);
    aliceClient.accepted();
    const welcomed = await postOutbox(createOf(welcome!, [uriOf("bob")]));
    expect(welcomed.status).toBe(201);
    // The Welcome named bob's package: it left his collection.
    const bobsCollection = await (await fetch(`${uriOf("bob")}/key-packages`)).json();
    expect(bobsCollection.items).not.toContain((bobPackage as MlsObject & { id: string }).id);

    // bob reads his mailbox (the stored Welcome, as sent) and joins.
    const [stored] = await sql`SELECT o.activity FROM mls_mailbox m JOIN mls_objects o ON o.id = m.object_id
      JOIN accounts a ON a.id = m.owner_id WHERE a.username = 'bob' AND o.type = 'Welcome'`;
    expect(stored.activity.object.content).toBe(welcome!.content);
    await bobClient.join(stored.activity.object);

    const before = remote.requests.filter((r) => r.method === "POST").length;
    const message = await aliceClient.send("hello group");
    const sent = await postOutbox(createOf(message, [uriOf("bob"), rita.id, ravi.id]));
    expect(sent.status).toBe(201);
    expect(sent.body.object).toMatchObject({ type: "PrivateMessage", content: message.content, attributedTo: uriOf("alice") });
    expect(sent.body.object.id).toMatch(new RegExp(`^${parley.url}/mls-objects/[a-h][0-9a-z]{25}$`));
    expect(sent.body.to).toEqual([uriOf("bob"), rita.id, ravi.id]);

    const [{ text }] = await sql`SELECT o.activity->'object'->>'content' AS text FROM mls_mailbox m JOIN mls_objects o ON o.id = m.object_id
      JOIN accounts a ON a.id = m.owner_id WHERE a.username = 'bob' ORDER BY m.seq DESC LIMIT 1`;
    expect(await bobClient.receive({ content: text })).toMatchObject({ type: "Create", object: { content: "hello group" } });

    // One signed POST to the remote server's shared inbox for its two recipients.
    const posts = await eventually(async () => {
      const seen = remote.requests.filter((r) => r.method === "POST").slice(before);
      return seen.length > 0 && seen;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(remote.requests.filter((r) => r.method === "POST").slice(before)).toHaveLength(1);
    expect(posts[0].path).toBe("/inbox");
    expect(posts[0].headers.signature).toMatch(/keyId="[^"]+\/users\/alice#main-key"/);
    expect(JSON.parse(posts[0].body)).toMatchObject({ id: sent.body.id, object: { content: message.content } });
    const [{ rows }] = await sql`SELECT count(*)::int AS rows FROM deliveries WHERE activity_uri = ${sent.body.id}`;
    expect(rows).toBe(1);
  });

  it("the Commit gate: a second Commit for the same group and epoch gets 409 naming the first; the loser stays in sync", async () => {
    const aliceClient = await MlsClient.create(uriOf("alice"));
    const bobClient = await MlsClient.create(uriOf("bob"));
    const carolClient = await MlsClient.create(uriOf("alice")); // alice's second device
    await aliceClient.createGroup("group-2");
    const added = await aliceClient.add([await keyPackageOf(bobClient, bob.token, "bob")]);
    expect((await postOutbox(createOf(added.commit, [uriOf("bob")]))).status).toBe(201);
    aliceClient.accepted();
    await bobClient.join(added.welcome!);

    // Both commit at the same epoch (each adding another package): alice's goes first.
    const first = await aliceClient.add([await keyPackageOf(carolClient, alice.token, "alice")]);
    const second = await bobClient.add([(await keyPackageOf(await MlsClient.create(uriOf("bob")), bob.token, "bob")) as MlsObject]);
    const firstAnswer = await postOutbox(createOf(first.commit, [uriOf("bob")]));
    expect(firstAnswer.status).toBe(201);
    aliceClient.accepted();
    const secondAnswer = await postOutbox(createOf(second.commit, [uriOf("alice")], uriOf("bob")), bob.token, "bob");
    expect(secondAnswer.status).toBe(409);
    expect(secondAnswer.body).toMatchObject({ error: "commit_conflict", first: firstAnswer.body.object.id });
    bobClient.rejected();
    await bobClient.receive(first.commit);
    expect(bobClient.epoch).toBe(aliceClient.epoch);
    const message = await aliceClient.send("still in sync");
    expect(await bobClient.receive(message)).toMatchObject({ object: { content: "still in sync" } });
  });

  it("refuses what cannot be sent, naming why, and stores nothing", async () => {
    const client = await MlsClient.create(uriOf("alice"));
    await client.createGroup("group-3");
    const message = await client.send("x");
    const count = async () => (await sql`SELECT count(*)::int AS n FROM mls_objects`)[0].n;
    const before = await count();
    expect((await postOutbox(createOf(message, ["https://www.w3.org/ns/activitystreams#Public"]))).body.reason).toBe("public_not_allowed");
    expect((await postOutbox(createOf(message, [`${parley.url}/users/nobody`]))).body).toMatchObject({
      reason: "unknown_recipient",
      recipient: `${parley.url}/users/nobody`,
    });
    expect((await postOutbox({ ...createOf(message, [uriOf("bob")]), to: [remote.url] })).body.reason).toBe("to_mismatch");
    expect((await postOutbox(createOf({ ...message, content: "AAEAAg==" }, [uriOf("bob")]))).body.reason).toBe("bad_mls_framing");
    // A recipient on a domain the admin blocks: refused, naming the domain, nothing sent.
    const blockedActor = remote.actor("blocked-member");
    const domain = new URL(remote.url).host;
    const block = await api(parley.url, parley.adminToken).post("/api/v1/admin/domain_blocks", { domain });
    expect(block.status).toBe(200);
    try {
      expect((await postOutbox(createOf(message, [uriOf("bob"), blockedActor.id]))).body).toMatchObject({
        error: "invalid_mls_object",
        reason: "recipient_domain_blocked",
        domain,
      });
    } finally {
      expect((await api(parley.url, parley.adminToken).delete(`/api/v1/admin/domain_blocks/${block.body.id}`)).status).toBeLessThan(300);
    }
    expect(await count()).toBe(before);
  });
  it("a Create whose object names no author or recipients gets them from the outbox's owner and the Create", async () => {
    const client = await MlsClient.create(uriOf("alice"));
    await client.createGroup("group-4");
    const message = await client.send("addressed by the Create");
    const sent = await postOutbox({ type: "Create", to: [uriOf("bob")], object: message });
    expect(sent.status).toBe(201);
    expect(sent.body.object).toMatchObject({ attributedTo: uriOf("alice"), to: [uriOf("bob")], content: message.content });
    // Stated wrongly, it is refused as given.
    const foreign = await postOutbox({ type: "Create", to: [uriOf("bob")], object: { ...message, attributedTo: uriOf("bob") } });
    expect(foreign.body.reason).toBe("attributed_to_mismatch");
  });

  it("admins see MLS traffic per actor, counts and sizes, never content; a user token gets 403", async () => {
    const traffic = await api(parley.url, parley.adminToken).get("/api/v1/admin/mls/traffic");
    expect(traffic.status).toBe(200);
    const aliceRow = traffic.body.find((row: { acct: string }) => row.acct === "alice");
    const [{ objects, bytes }] = await sql`SELECT count(*)::int AS objects, sum(size)::int AS bytes FROM mls_objects o
      JOIN accounts a ON a.id = o.sender_id WHERE a.username = 'alice'`;
    expect(aliceRow).toMatchObject({ local: true, sent: { objects, bytes, by_type: { PrivateMessage: expect.any(Number), Welcome: 1 } } });
    expect(aliceRow.sent.commits).toBeGreaterThanOrEqual(3);
    expect(traffic.body.find((row: { acct: string }) => row.acct === "bob").received).toBeGreaterThan(0);
    const [{ sample }] = await sql`SELECT activity->'object'->>'content' AS sample FROM mls_objects LIMIT 1`;
    expect(JSON.stringify(traffic.body)).not.toContain(sample);
    expect((await api(parley.url, alice.token).get("/api/v1/admin/mls/traffic")).status).toBe(403);
  });
});
