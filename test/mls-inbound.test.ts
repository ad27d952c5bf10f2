import { randomBytes, randomUUID } from "node:crypto";
import { type Json, settled } from "./helpers/inbox.js";
import { MlsClient, type MlsObject } from "./helpers/mls-client.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";
import { openStream, streamingUrl } from "./helpers/streaming.js";

/**
 * MLS objects arriving from a remote server (docs/federation.md, docs/mls.md): a signed
 * `Create{PrivateMessage|PublicMessage|Welcome|GroupInfo}` is checked at the door (422
 * `invalid_mls_object` with the reason, nothing stored), stored before the 202, and applied by the
 * inbound worker: one mls_objects row, a mailbox row per local recipient on that owner's sequence,
 * block rules, KeyPackages consumed by a Welcome. Real ts-mls clients on both sides.
 */

const MLS_CONTEXT = ["https://www.w3.org/ns/activitystreams", "https://purl.archive.org/socialweb/mls"];

let parley: TestParley;
let remote: RemoteServer;
let alice: RemoteActor;
let mallory: RemoteActor;
type Account = Awaited<ReturnType<typeof createAccount>>;
let bob: Account;
let carol: Account;
let dave: Account;
const uri = (username: string) => `${parley.url}/users/${username}`;

beforeAll(async () => {
  // A body cap above the 192 KiB content limit, so that `too_large` is what answers.
  [parley, remote] = await Promise.all([startTestParley({ env: { INBOX_MAX_BYTES: "600000" } }), startRemoteServer()]);
  alice = remote.actor("alice");
  mallory = remote.actor("mallory");
  [bob, carol, dave] = await Promise.all(["bob", "carol", "dave"].map((name) => createAccount(parley, name)));
}, 60_000);

afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close()]);
});

const sql = () => parley.parley.deps.db.$client;

/** A Create of `object` by `actor`, addressed to `to` (the object's `to` too). */
function createOf(actor: RemoteActor, object: MlsObject | Json, to: string[], extra: { object?: Json; activity?: Json } = {}): Json {
  const origin = new URL(actor.id).origin;
  return {
    "@context": MLS_CONTEXT,
    id: `${origin}/activities/${randomUUID()}`,
    type: "Create",
    actor: actor.id,
    to,
    object: { id: `${origin}/mls/${randomUUID()}`, attributedTo: actor.id, to, ...object, ...extra.object },
    ...extra.activity,
  };
}

const post = (activity: Json, actor: RemoteActor = alice, inbox = `${parley.url}/inbox`) => signedPost(inbox, activity, actor);

async function accepted(activity: Json, actor: RemoteActor = alice): Promise<void> {
  const response = await post(activity, actor);
  expect([response.status, response.body]).toEqual([202, ""]);
}

/** What the inbox and the MLS tables hold. */
async function counts() {
  const [row] = await sql()`SELECT (SELECT count(*) FROM inbox_activities)::int AS inbox,
    (SELECT count(*) FROM mls_objects)::int AS objects, (SELECT count(*) FROM mls_mailbox)::int AS mailbox`;
  return row;
}

/** An owner's mailbox in sequence order: the object id (its URI) and the activity as stored. */
async function mailboxOf(username: string): Promise<{ seq: number; uri: string; notify: boolean; activity: Json }[]> {
  return sql()`SELECT m.seq::int AS seq, o.uri, m.notify, o.activity FROM mls_mailbox m
    JOIN mls_objects o ON o.id = m.object_id JOIN accounts a ON a.id = m.owner_id
    WHERE a.username = ${username} AND a.domain IS NULL ORDER BY m.seq`;
}

async function publishKeyPackage(account: Account, username: string, client: MlsClient): Promise<{ id: string; content: string }> {
  const response = await fetch(`${uri(username)}/outbox`, {
    method: "POST",
    headers: { "content-type": "application/activity+json", authorization: `Bearer ${account.token}` },
    body: JSON.stringify({
      "@context": MLS_CONTEXT,
      type: "Create",
      actor: uri(username),
      to: "as:Public",
      object: { ...client.keyPackageObject(), attributedTo: uri(username), to: "as:Public" },
    }),
  });
  expect(response.status).toBe(201);
  const body = await response.json();
  return { id: body.object.id, content: body.object.content };
}

const keyPackagesOf = async (username: string) => (await api(parley.url).get(`/users/${username}/key-packages`)).body.items as string[];

describe("a group across servers: alice@remote with bob and carol here", () => {
  it("Welcome, PrivateMessage and PublicMessage Commit: 202, one mailbox row per local recipient on its sequence, content as sent", async () => {
    const bobClient = await MlsClient.create(uri("bob"));
    const carolClient = await MlsClient.create(uri("carol"));
    const aliceClient = await MlsClient.create(alice.id);
    const bobPackage = await publishKeyPackage(bob, "bob", bobClient);
    const carolPackage = await publishKeyPackage(carol, "carol", carolClient);

    await aliceClient.createGroup(`group-${randomUUID()}`);
    const addBob = await aliceClient.add([bobPackage]);
    aliceClient.accepted();
    const welcomeBob = createOf(alice, addBob.welcome!, [uri("bob")]);
    await accepted(welcomeBob);
    // Durably stored before the 202; applied by the worker.
    expect((await sql()`SELECT count(*)::int AS n FROM inbox_activities WHERE activity_uri = ${welcomeBob.id}`)[0].n).toBe(1);
    await settled(parley);
    // The Welcome named bob's package: it leaves his collection.
    expect(await keyPackagesOf("bob")).not.toContain(bobPackage.id);
    await bobClient.join((await mailboxOf("bob"))[0].activity.object);

    // Types as Emissary and others write them: a list, the mls: prefix.
    const hello = createOf(alice, await aliceClient.send("hello bob"), [uri("bob")], {
      object: { type: ["Object", "mls:PrivateMessage"] },
    });
    await accepted(hello);
    // carol joins by a Commit framed as a PublicMessage (to bob, the other member) and her Welcome.
    const addCarol = await aliceClient.add([carolPackage], { publicMessage: true });
    aliceClient.accepted();
    const commit = createOf(alice, addCarol.commit, [uri("bob")]);
    await accepted(commit);
    await accepted(createOf(alice, addCarol.welcome!, [uri("carol")]));
    const both = createOf(alice, await aliceClient.send("hello both"), [uri("bob"), uri("carol")]);
    await accepted(both);
    await settled(parley);

    const bobs = await mailboxOf("bob");
    expect(bobs.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(bobs.map((m) => m.uri)).toEqual([welcomeBob, hello, commit, both].map((a) => a.object.id));
    // The activity as received, content untouched.
    expect(bobs[1].activity).toEqual(hello);
    expect(bobs.every((m) => m.notify)).toBe(true);
    expect(await bobClient.receive(bobs[1].activity.object)).toMatchObject({ object: { content: "hello bob" } });
    expect(await bobClient.receive(bobs[2].activity.object)).toBeUndefined();
    expect(await bobClient.receive(bobs[3].activity.object)).toMatchObject({ object: { content: "hello both" } });

    const carols = await mailboxOf("carol");
    expect(carols.map((m) => m.seq)).toEqual([1, 2]);
    expect(await keyPackagesOf("carol")).not.toContain(carolPackage.id);
    await carolClient.join(carols[0].activity.object);
    expect(await carolClient.receive(carols[1].activity.object)).toMatchObject({ object: { content: "hello both" } });

    const [row] =
      await sql()`SELECT type, wire_format, content_type, epoch::text, type_mismatch, recipients FROM mls_objects WHERE uri = ${commit.object.id}`;
    expect(row).toEqual({
      type: "PublicMessage",
      wire_format: 1,
      content_type: "commit",
      epoch: "1",
      type_mismatch: false,
      recipients: [uri("bob")],
    });
  });

  it("keeps a sender's order: messages posted one after another land in that order", async () => {
    const bobClient = await MlsClient.create(uri("bob"));
    const aliceClient = await MlsClient.create(alice.id);
    const bobPackage = await publishKeyPackage(bob, "bob", bobClient);
    await aliceClient.createGroup(`group-${randomUUID()}`);
    const { welcome } = await aliceClient.add([bobPackage]);
    aliceClient.accepted();
    const sent = [createOf(alice, welcome!, [uri("bob")])];
    for (let i = 0; i < 12; i++) sent.push(createOf(alice, await aliceClient.send(`message ${i}`), [uri("bob")]));
    const before = (await mailboxOf("bob")).length;
    // Each 202 awaited (that is the order the inbox accepts them in), the worker left to go at its pace.
    for (const activity of sent) await accepted(activity);
    await settled(parley, 15_000);
    const landed = (await mailboxOf("bob")).slice(before);
    expect(landed.map((m) => m.uri)).toEqual(sent.map((a) => a.object.id));
    await bobClient.join(landed[0].activity.object);
    for (const [i, m] of landed.slice(1).entries()) {
      expect(await bobClient.receive(m.activity.object)).toMatchObject({ object: { content: `message ${i}` } });
    }
  }, 30_000);

  it("announces an arriving object on bob's stream (parley:mls_message) within 3 s", async () => {
    const aliceClient = await MlsClient.create(alice.id);
    await aliceClient.createGroup(`group-${randomUUID()}`);
    const stream = await openStream(streamingUrl(parley.url, { stream: "user", access_token: bob.token }));
    try {
      const activity = createOf(alice, await aliceClient.send("streamed"), [uri("bob")]);
      await accepted(activity);
      const frame = await stream.next((f) => f.event === "parley:mls_message", 3_000, "parley:mls_message");
      expect(JSON.parse(frame.payload)).toMatchObject({ type: "PrivateMessage", sender: alice.id, object: activity.object });
    } finally {
      stream.close();
    }
  });

  it("a GroupInfo is carried too", async () => {
    const aliceClient = await MlsClient.create(alice.id);
    await aliceClient.createGroup(`group-${randomUUID()}`);
    const activity = createOf(alice, await aliceClient.groupInfoObject(), [uri("dave")]);
    await accepted(activity);
    await settled(parley);
    expect((await mailboxOf("dave")).map((m) => m.uri)).toContain(activity.object.id);
  });
});

describe("refusals at the door: 422 with the reason, nothing stored", () => {
  let message: MlsObject;
  beforeAll(async () => {
    const client = await MlsClient.create(alice.id);
    await client.createGroup("refusals");
    message = await client.send("never stored");
  });

  const refused = async (activity: Json, reason: string, field: string) => {
    const before = await counts();
    const response = await post(activity);
    expect(response.status).toBe(422);
    expect(JSON.parse(response.body)).toMatchObject({ error: "invalid_mls_object", reason, field });
    await settled(parley);
    expect(await counts()).toEqual(before);
  };

  it("bad base64", () => refused(createOf(alice, { ...message, content: "not base64!" }, [uri("bob")]), "bad_base64", "content"));

  it("bytes that are no MLSMessage", () =>
    refused(createOf(alice, { ...message, content: randomBytes(200).toString("base64") }, [uri("bob")]), "bad_mls_framing", "content"));

  it("the Public collection in `to`", () =>
    refused(createOf(alice, message, [uri("bob"), "https://www.w3.org/ns/activitystreams#Public"]), "public_not_allowed", "to"));

  it("the Public collection in the activity's cc", () =>
    refused(createOf(alice, message, [uri("bob")], { activity: { cc: ["as:Public"] } }), "public_not_allowed", "activity.cc"));

  it("attributedTo another actor", () =>
    refused(createOf(alice, message, [uri("bob")], { object: { attributedTo: mallory.id } }), "attributed_to_mismatch", "attributedTo"));

  it("no local recipient", async () => {
    await refused(createOf(alice, message, [mallory.id]), "no_local_recipient", "to");
    await refused(createOf(alice, message, [uri("nobody")]), "no_local_recipient", "to");
  });

  it("an object id on another origin, or none", async () => {
    await refused(createOf(alice, message, [uri("bob")], { object: { id: `${parley.url}/objects/x` } }), "bad_object_id", "id");
    await refused(createOf(alice, message, [uri("bob")], { object: { id: undefined } }), "bad_object_id", "id");
  });

  it("content over 192 KiB decoded", () =>
    refused(
      createOf(alice, { ...message, content: Buffer.alloc(193 * 1024, 7).toString("base64") }, [uri("bob")]),
      "too_large",
      "content",
    ));

  it("a KeyPackage by S2S: 202, ignored (it is published on its owner's server only)", async () => {
    const client = await MlsClient.create(alice.id);
    const before = await counts();
    const activity = createOf(alice, client.keyPackageObject(), ["as:Public"]);
    expect((await post(activity)).status).toBe(202);
    expect(await counts()).toEqual(before);
  });
});

describe("duplicates and replays", () => {
  it("the same activity twice, then its object in another activity: stored once", async () => {
    const client = await MlsClient.create(alice.id);
    await client.createGroup(`group-${randomUUID()}`);
    const activity = createOf(alice, await client.send("once"), [uri("dave")]);
    const before = await counts();
    await accepted(activity);
    await accepted(activity);
    await settled(parley);
    await accepted({ ...activity, id: `${remote.url}/activities/${randomUUID()}` });
    await settled(parley);
    const after = await counts();
    expect([after.inbox - before.inbox, after.objects - before.objects, after.mailbox - before.mailbox]).toEqual([1, 1, 1]);
  });
});

describe("blocks", () => {
  it("dave blocks mallory: her Welcome is dropped (his package stays), her other objects are stored unannounced", async () => {
    const lookup = await api(parley.url, dave.token).get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(mallory.id)}`);
    expect(lookup.status).toBe(200);
    expect((await api(parley.url, dave.token).post(`/api/v1/accounts/${lookup.body.id}/block`)).status).toBe(200);
    const daveClient = await MlsClient.create(uri("dave"));
    const davePackage = await publishKeyPackage(dave, "dave", daveClient);
    const malloryClient = await MlsClient.create(mallory.id);
    await malloryClient.createGroup(`group-${randomUUID()}`);
    const { welcome } = await malloryClient.add([davePackage]);
    malloryClient.accepted();

    const welcomeActivity = createOf(mallory, welcome!, [uri("dave"), uri("bob")]);
    const message = createOf(mallory, await malloryClient.send("still delivered"), [uri("dave")]);
    // Answered as any other (a block is never revealed).
    for (const activity of [welcomeActivity, message]) expect((await post(activity, mallory)).status).toBe(202);
    await settled(parley);

    const daves = await mailboxOf("dave");
    expect(daves.map((m) => m.uri)).not.toContain(welcomeActivity.object.id);
    expect(daves.find((m) => m.uri === message.object.id)).toMatchObject({ notify: false });
    // bob blocks nobody: the same Welcome reached him.
    expect((await mailboxOf("bob")).find((m) => m.uri === welcomeActivity.object.id)).toMatchObject({ notify: true });
    expect(await keyPackagesOf("dave")).toContain(davePackage.id);
  });

  it("the admin's domain block: 403, nothing stored", async () => {
    const admin = api(parley.url, parley.adminToken);
    const block = await admin.post("/api/v1/admin/domain_blocks", { domain: new URL(remote.url).host });
    expect(block.status).toBe(200);
    try {
      const client = await MlsClient.create(alice.id);
      await client.createGroup(`group-${randomUUID()}`);
      const before = await counts();
      const response = await post(createOf(alice, await client.send("blocked"), [uri("bob")]));
      expect([response.status, JSON.parse(response.body)]).toEqual([403, { error: "domain_blocked" }]);
      expect(await counts()).toEqual(before);
    } finally {
      expect((await admin.delete(`/api/v1/admin/domain_blocks/${block.body.id}`)).status).toBe(200);
    }
  });
});

describe("metrics", () => {
  it("counts stored MLS objects by direction, type and type mismatch", async () => {
    // Emissary-style: a group message sent as a GroupInfo. Stored (routed by its bytes), counted.
    const client = await MlsClient.create(alice.id);
    await client.createGroup(`group-${randomUUID()}`);
    const odd = createOf(alice, { ...(await client.send("odd type")), type: "GroupInfo" }, [uri("bob")]);
    await accepted(odd);
    await settled(parley);
    const [row] = await sql()`SELECT type, wire_format, type_mismatch FROM mls_objects WHERE uri = ${odd.object.id}`;
    expect(row).toEqual({ type: "GroupInfo", wire_format: 2, type_mismatch: true });
    const text = await (await fetch(`${parley.url}/metrics`)).text();
    expect(text).toMatch(/parley_mls_objects_total\{direction="in",type="PrivateMessage",mismatch="false"\} [1-9]/);
    expect(text).toMatch(/parley_mls_objects_total\{direction="in",type="Welcome",mismatch="false"\} [1-9]/);
    expect(text).toMatch(/parley_mls_objects_total\{direction="in",type="GroupInfo",mismatch="true"\} 1\n/);
  });
});
