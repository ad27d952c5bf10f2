import { type AccountRow, findLocalAccountByUsername } from "../src/accounts/account.view.js";
import { checkMlsObject } from "../src/mls/checks.js";
import { MLS_JSON_CONTEXT } from "../src/mls/key-packages.service.js";
import { storeMlsObject } from "../src/mls/mls-objects.service.js";
import { publishMlsMessages } from "../src/streaming/events.js";
import { sleep } from "./helpers/delivery.js";
import { MlsClient, type MlsObject } from "./helpers/mls-client.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { openStream, type StreamClient, streamingUrl } from "./helpers/streaming.js";

/**
 * Reading MLS objects: the owner's `messages` collection (newest first, paged by the owner's seq
 * both ways, seekItem), the local API's `GET /api/v1/parley/mls/messages`, and the
 * `parley:mls_message` streaming event. Mailbox rows are seeded through `storeMlsObject` with real
 * ts-mls objects, as the outbox and the inbox store them.
 */

let parley: TestParley;
type Account = Awaited<ReturnType<typeof createAccount>>;
let alice: Account;
let bob: Account;
let carol: Account;
const rows: Record<string, AccountRow> = {};
let aliceMls: MlsClient;
let carolMls: MlsClient;
/** Bob's mailbox as seeded, by seq (index 0 is seq 1). */
const bobsActivities: Record<string, unknown>[] = [];
let seeded = 0;
const clients: StreamClient[] = [];

const collection = (user = "bob") => `${parley.url}/users/${user}/mls-messages`;

async function getAs(url: string, token?: string) {
  const response = await fetch(url, { redirect: "manual", headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

/** Stores `object` from `sender` to `recipients` as the outbox would; announces it when `announce`. */
async function store(sender: AccountRow, recipients: AccountRow[], object: MlsObject, announce = false) {
  const id = `${parley.url}/mls-objects/seed-${++seeded}`;
  const full = { ...object, id, attributedTo: sender.uri, to: recipients.map((r) => r.uri) };
  const checked = await checkMlsObject(full, sender.uri);
  if (!checked.ok || !("framing" in checked)) throw new Error(`seed refused: ${JSON.stringify(checked)}`);
  const activity = { "@context": MLS_JSON_CONTEXT, id: `${id}/create`, type: "Create", actor: sender.uri, to: full.to, object: full };
  const stored = await parley.parley.deps.db.transaction(async (tx) => {
    const result = await storeMlsObject(tx, {
      sender,
      objectUri: id,
      activityUri: activity.id,
      activity,
      envelope: checked.envelope,
      framing: checked.framing,
      recipients,
    });
    if (!result.stored) throw new Error("not stored");
    if (announce) await publishMlsMessages(tx, result.mailbox);
    return result;
  });
  return { activity, stored };
}

beforeAll(async () => {
  parley = await startTestParley();
  [alice, bob, carol] = await Promise.all(["alice", "bob", "carol"].map((name) => createAccount(parley, name)));
  for (const name of ["alice", "bob", "carol"]) rows[name] = (await findLocalAccountByUsername(parley.parley.deps.db, name))!;

  aliceMls = await MlsClient.create(rows.alice.uri);
  const bobMls = await MlsClient.create(rows.bob.uri);
  await aliceMls.createGroup("mailbox-test");
  const { commit, welcome } = await aliceMls.add([bobMls.keyPackageObject()]);
  aliceMls.accepted();
  expect(commit).toBeDefined();
  // Bob's mailbox: the Welcome (seq 1), then 24 messages (seq 2…25).
  bobsActivities.push((await store(rows.alice, [rows.bob], welcome!)).activity);
  await bobMls.join(welcome!);
  for (let i = 1; i <= 24; i++) bobsActivities.push((await store(rows.alice, [rows.bob], await aliceMls.send(`m${i}`))).activity);
  // Alice's own mailbox holds one entry, which is not Bob's to see.
  await bobMls.receive((bobsActivities[1] as { object: MlsObject }).object);
  await store(rows.bob, [rows.alice], await bobMls.send("to alice"));

  carolMls = await MlsClient.create(rows.carol.uri);
  await carolMls.createGroup("carols-group");
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.close();
  await parley?.close();
});

const seqOf = (activity: Record<string, unknown>) => bobsActivities.indexOf(activity) + 1;
const seqsOf = (items: Record<string, unknown>[]) =>
  items.map((item) => bobsActivities.findIndex((a) => (a as { id: string }).id === item.id) + 1);

describe("the messages collection", () => {
  it("is its owner's only: no token 401, another account's or the admin token 403, unknown user 404", async () => {
    expect((await getAs(collection())).status).toBe(401);
    expect((await getAs(collection(), "not-a-token")).status).toBe(401);
    expect((await getAs(collection(), alice.token)).status).toBe(403);
    expect((await getAs(collection(), parley.adminToken)).status).toBe(403);
    expect((await getAs(collection("nobody"), bob.token)).status).toBe(404);
    expect((await getAs(`${collection()}?item=${encodeURIComponent(String(bobsActivities[0].id))}`, alice.token)).status).toBe(403);
  });

  it("gives totalItems, first and last, as activity+json with the MLS context", async () => {
    const { status, headers, body } = await getAs(collection(), bob.token);
    expect(status).toBe(200);
    expect(headers.get("content-type")).toMatch(/^application\/activity\+json/);
    expect(headers.get("cache-control")).toBe("private, no-store");
    expect(body).toEqual({
      "@context": ["https://www.w3.org/ns/activitystreams", "https://purl.archive.org/socialweb/mls"],
      id: collection(),
      type: "OrderedCollection",
      attributedTo: rows.bob.uri,
      totalItems: 25,
      first: `${collection()}?page=true`,
      last: `${collection()}?min_seq=0`,
    });
    expect((await getAs(collection("alice"), alice.token)).body.totalItems).toBe(1);
  });

  it("pages newest first with next to older pages; items are the Create activities as stored", async () => {
    const first = (await getAs(`${collection()}?page=true`, bob.token)).body;
    expect(first).toMatchObject({ type: "OrderedCollectionPage", id: `${collection()}?page=true`, partOf: collection() });
    expect(seqsOf(first.orderedItems)).toEqual(Array.from({ length: 20 }, (_, i) => 25 - i));
    expect(first.orderedItems[0]).toEqual(bobsActivities[24]);
    expect(first.next).toBe(`${collection()}?max_seq=6`);
    expect(first.prev).toBe(`${collection()}?min_seq=25`);

    const second = (await getAs(first.next, bob.token)).body;
    expect(seqsOf(second.orderedItems)).toEqual([5, 4, 3, 2, 1]);
    expect(second.orderedItems[4]).toEqual(bobsActivities[0]);
    expect(second.next).toBeUndefined();
    expect(second.prev).toBe(`${collection()}?min_seq=5`);

    const small = (await getAs(`${collection()}?max_seq=10&limit=3`, bob.token)).body;
    expect(seqsOf(small.orderedItems)).toEqual([9, 8, 7]);
    expect(small.next).toBe(`${collection()}?max_seq=7&limit=3`);
    // Clamped to 100; nonsense refused.
    expect((await getAs(`${collection()}?page=true&limit=1000`, bob.token)).body.orderedItems).toHaveLength(25);
    expect((await getAs(`${collection()}?max_seq=x`, bob.token)).status).toBe(400);
    expect((await getAs(`${collection()}?limit=0`, bob.token)).status).toBe(400);
  });

  it("reads forward with min_seq: oldest first, prev to newer entries (always there, to poll), next to older", async () => {
    const oldest = (await getAs(`${collection()}?min_seq=0&limit=10`, bob.token)).body;
    expect(seqsOf(oldest.orderedItems)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(oldest.next).toBeUndefined();
    expect(oldest.prev).toBe(`${collection()}?min_seq=10&limit=10`);
    const middle = (await getAs(oldest.prev, bob.token)).body;
    expect(seqsOf(middle.orderedItems)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    expect(middle.next).toBe(`${collection()}?max_seq=11&limit=10`);
    const newest = (await getAs(middle.prev, bob.token)).body;
    expect(seqsOf(newest.orderedItems)).toEqual([21, 22, 23, 24, 25]);
    const empty = (await getAs(newest.prev, bob.token)).body;
    expect(empty.orderedItems).toEqual([]);
    expect(empty.prev).toBe(`${collection()}?min_seq=25&limit=10`);
    expect(empty.next).toBe(`${collection()}?max_seq=26&limit=10`);
  });

  it("seekItem: 307 to the page starting at the item (by object or activity id), 404 for what the owner does not hold", async () => {
    const target = bobsActivities[6] as { id: string; object: { id: string } };
    for (const id of [target.object.id, target.id]) {
      const seek = await getAs(`${collection()}?item=${encodeURIComponent(id)}`, bob.token);
      expect(seek.status).toBe(307);
      expect(seek.headers.get("location")).toBe(`${collection()}?min_seq=6`);
    }
    const page = (await getAs(`${collection()}?min_seq=6`, bob.token)).body;
    expect(page.orderedItems[0]).toEqual(target);
    expect(seqOf(target)).toBe(7);
    const limited = await getAs(`${collection()}?item=${encodeURIComponent(target.id)}&limit=5`, bob.token);
    expect(limited.headers.get("location")).toBe(`${collection()}?min_seq=6&limit=5`);

    expect((await getAs(`${collection()}?item=${encodeURIComponent(`${parley.url}/mls-objects/unknown`)}`, bob.token)).status).toBe(404);
    // Alice's entry (Bob sent it) is not in Bob's mailbox.
    const alicesOnly = `${parley.url}/mls-objects/seed-26`;
    expect((await getAs(`${collection("alice")}?item=${encodeURIComponent(alicesOnly)}`, alice.token)).status).toBe(307);
    expect((await getAs(`${collection()}?item=${encodeURIComponent(alicesOnly)}`, bob.token)).status).toBe(404);
  });
});

describe("GET /api/v1/parley/mls/messages", () => {
  it("lists the caller's entries after since_seq, oldest first, with the clear header fields", async () => {
    expect((await api(parley.url).get("/api/v1/parley/mls/messages")).status).toBe(401);
    const all = await api(parley.url, bob.token).get("/api/v1/parley/mls/messages?limit=100");
    expect(all.status).toBe(200);
    expect(all.body.map((item: { seq: number }) => item.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    const [welcome, message] = all.body;
    expect(welcome).toMatchObject({
      seq: 1,
      id: (bobsActivities[0].object as { id: string }).id,
      activity_id: bobsActivities[0].id,
      type: "Welcome",
      sender: rows.alice.uri,
      group_id: null,
      epoch: null,
      content_type: null,
      object: bobsActivities[0].object,
    });
    expect(new Date(welcome.created_at).toISOString()).toBe(welcome.created_at);
    expect(message).toMatchObject({ seq: 2, type: "PrivateMessage", epoch: "1", content_type: "application" });
    expect(message.group_id).toBe(Buffer.from("mailbox-test").toString("hex"));
    expect(message.object).toEqual(bobsActivities[1].object);

    const after = await api(parley.url, bob.token).get("/api/v1/parley/mls/messages?since_seq=20&limit=3");
    expect(after.body.map((item: { seq: number }) => item.seq)).toEqual([21, 22, 23]);
    expect((await api(parley.url, bob.token).get("/api/v1/parley/mls/messages")).body).toHaveLength(20);
    expect((await api(parley.url, bob.token).get("/api/v1/parley/mls/messages?since_seq=-1")).status).toBe(400);
    const alices = await api(parley.url, alice.token).get("/api/v1/parley/mls/messages");
    expect(alices.body.map((item: { sender: string }) => item.sender)).toEqual([rows.bob.uri]);
    const documented = (await api(parley.url).get("/api/openapi")).body;
    expect(documented.paths["/api/v1/parley/mls/messages"].get.parameters.map((p: { name: string }) => p.name)).toEqual([
      "since_seq",
      "limit",
    ]);
  });
});

describe("the parley:mls_message streaming event", () => {
  async function open(token: string, stream: string) {
    const client = await openStream(streamingUrl(parley.url, { stream, access_token: token }));
    clients.push(client);
    return client;
  }
  const mlsEvents = (frame: { event: string }) => frame.event === "parley:mls_message";

  it("announces a new entry within 3 s on user and user:pleroma_chat, as one item of the JSON endpoint", async () => {
    const [user, chat, notifications] = await Promise.all([
      open(bob.token, "user"),
      open(bob.token, "user:pleroma_chat"),
      open(bob.token, "user:notification"),
    ]);
    const { stored } = await store(rows.alice, [rows.bob], await aliceMls.send("streamed"), true);
    const seq = stored.mailbox[0].seq;
    const frame = await user.next(mlsEvents, 3_000, "parley:mls_message");
    expect(frame.stream).toEqual(["user"]);
    const listed = await api(parley.url, bob.token).get(`/api/v1/parley/mls/messages?since_seq=${seq - 1}&limit=1`);
    expect(JSON.parse(frame.payload)).toEqual(listed.body[0]);
    expect((await chat.next(mlsEvents, 3_000)).stream).toEqual(["user:pleroma_chat"]);
    await sleep(300);
    expect(notifications.all(mlsEvents)).toEqual([]);
    // Nothing was created in the notifications list for it.
    const listedNotifications = await api(parley.url, bob.token).get("/api/v1/notifications?include_types[]=pleroma:chat_mention");
    expect(listedNotifications.body).toEqual([]);
  });

  it("never announces an entry stored without notify (a sender the owner blocks), which stays readable", async () => {
    const socket = await open(bob.token, "user");
    const blocked = await api(parley.url, bob.token).post(`/api/v1/accounts/${carol.account.id}/block`);
    expect(blocked.status).toBe(200);
    const fromCarol = await store(rows.carol, [rows.bob], await carolMls.send("from a blocked sender"), true);
    expect(fromCarol.stored.mailbox).toEqual([{ ownerId: rows.bob.id, seq: expect.any(Number), notify: false }]);
    const fromAlice = await store(rows.alice, [rows.bob], await aliceMls.send("after it"), true);
    const frame = await socket.next(mlsEvents, 3_000);
    expect(JSON.parse(frame.payload).seq).toBe(fromAlice.stored.mailbox[0].seq);
    await sleep(300);
    expect(socket.all(mlsEvents)).toHaveLength(1);
    const listed = await api(parley.url, bob.token).get(`/api/v1/parley/mls/messages?since_seq=${fromCarol.stored.mailbox[0].seq - 1}`);
    expect(listed.body[0]).toMatchObject({ seq: fromCarol.stored.mailbox[0].seq, sender: rows.carol.uri });
  });

  it("is not announced when the transaction rolls back", async () => {
    const socket = await open(bob.token, "user");
    const message = await aliceMls.send("rolled back");
    const full = { ...message, id: `${parley.url}/mls-objects/rolled-back`, attributedTo: rows.alice.uri, to: [rows.bob.uri] };
    const checked = await checkMlsObject(full, rows.alice.uri);
    if (!checked.ok || !("framing" in checked)) throw new Error("refused");
    await expect(
      parley.parley.deps.db.transaction(async (tx) => {
        const result = await storeMlsObject(tx, {
          sender: rows.alice,
          objectUri: full.id,
          activityUri: `${full.id}/create`,
          activity: { type: "Create", id: `${full.id}/create`, object: full },
          envelope: checked.envelope,
          framing: checked.framing,
          recipients: [rows.bob],
        });
        if (result.stored) await publishMlsMessages(tx, result.mailbox);
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    await sleep(500);
    expect(socket.all(mlsEvents)).toEqual([]);
  });
});
