import { sql } from "drizzle-orm";
import { type AccountRow, findLocalAccountByUsername } from "../src/accounts/account.view.js";
import { checkMlsObject } from "../src/mls/checks.js";
import { MLS_JSON_CONTEXT } from "../src/mls/key-packages.service.js";
import { storeMlsObject } from "../src/mls/mls-objects.service.js";
import { sleep } from "./helpers/delivery.js";
import { MlsClient, type MlsObject } from "./helpers/mls-client.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type Frame, openStream, type StreamClient, streamingUrl } from "./helpers/streaming.js";

/**
 * `parley:mls_message` notifications: one per mailbox entry that notifies, made as chat
 * notifications are (none from a blocked sender, born seen from a muted one, streamed on
 * `user:notification`), listed only when asked for with `include_types[]`. Mailbox rows are seeded
 * through `storeMlsObject` with real ts-mls objects, in a transaction, as the outbox and inbox do.
 */

let parley: TestParley;
type Account = Awaited<ReturnType<typeof createAccount>>;
const accounts: Record<string, Account> = {};
const rows: Record<string, AccountRow> = {};
let aliceMls: MlsClient;
let welcome: MlsObject;
let seeded = 0;
const clients: StreamClient[] = [];

const MLS = "include_types[]=parley:mls_message";
const as = (name: string) => api(parley.url, accounts[name].token);
const mlsNotifications = async (name: string, query = "") => (await as(name).get(`/api/v1/notifications?${MLS}${query}`)).body;

/** Stores `object` from `sender` to `recipients` in one transaction, as the outbox would. */
async function store(sender: string, recipients: string[], object: MlsObject) {
  const id = `${parley.url}/mls-objects/notify-${++seeded}`;
  const to = recipients.map((name) => rows[name].uri);
  const full = { ...object, id, attributedTo: rows[sender].uri, to };
  const checked = await checkMlsObject(full, rows[sender].uri);
  if (!checked.ok || !("framing" in checked)) throw new Error(`seed refused: ${JSON.stringify(checked)}`);
  const activity = { "@context": MLS_JSON_CONTEXT, id: `${id}/create`, type: "Create", actor: rows[sender].uri, to, object: full };
  return parley.parley.deps.db.transaction(async (tx) => {
    const result = await storeMlsObject(tx, {
      sender: rows[sender],
      objectUri: id,
      activityUri: activity.id,
      activity,
      envelope: checked.envelope,
      framing: checked.framing,
      recipients: recipients.map((name) => rows[name]),
    });
    if (!result.stored) throw new Error("not stored");
    return result;
  });
}

const seqOf = (stored: Awaited<ReturnType<typeof store>>, owner: string) => stored.mailbox.find((m) => m.ownerId === rows[owner].id)!.seq;

/** The JSON endpoint's item for one of `owner`'s seqs. */
async function mailboxItem(owner: string, seq: number) {
  const listed = await as(owner).get(`/api/v1/parley/mls/messages?since_seq=${seq - 1}&limit=1`);
  return listed.body[0];
}

async function open(name: string, stream: string) {
  const client = await openStream(streamingUrl(parley.url, { stream, access_token: accounts[name].token }));
  clients.push(client);
  return client;
}
const isMlsNotification = (frame: Frame) => frame.event === "notification" && JSON.parse(frame.payload).type === "parley:mls_message";

beforeAll(async () => {
  parley = await startTestParley();
  const names = ["alice", "bob", "carol", "muter", "blocker", "other"];
  for (const name of names) {
    accounts[name] = await createAccount(parley, name);
    rows[name] = (await findLocalAccountByUsername(parley.parley.deps.db, name))!;
  }
  aliceMls = await MlsClient.create(rows.alice.uri);
  const [bobMls, carolMls] = await Promise.all([MlsClient.create(rows.bob.uri), MlsClient.create(rows.carol.uri)]);
  await aliceMls.createGroup("notify-test");
  const added = await aliceMls.add([bobMls.keyPackageObject(), carolMls.keyPackageObject()]);
  aliceMls.accepted();
  welcome = added.welcome!;
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.close();
  await parley?.close();
});

describe("parley:mls_message notifications", () => {
  it("are made one per mailbox entry, none for the sender, and show the entry as the JSON endpoint does", async () => {
    const stored = await store("alice", ["bob", "carol"], welcome);
    for (const owner of ["bob", "carol"]) {
      const listed = await mlsNotifications(owner);
      expect(listed).toHaveLength(1);
      const [notification] = listed;
      expect(Object.keys(notification).sort()).toEqual(["account", "created_at", "group_key", "id", "parley", "pleroma", "type"]);
      expect(notification).toMatchObject({
        type: "parley:mls_message",
        account: { id: accounts.alice.account.id, acct: "alice" },
        pleroma: { is_seen: false, is_muted: false },
      });
      expect(notification.parley).toEqual({ mls_message: await mailboxItem(owner, seqOf(stored, owner)) });
      expect(notification.parley.mls_message).toMatchObject({ type: "Welcome", sender: rows.alice.uri });
    }
    const message = await store("alice", ["bob"], await aliceMls.send("hello"));
    const [newest] = await mlsNotifications("bob");
    expect(newest.parley.mls_message).toEqual(await mailboxItem("bob", seqOf(message, "bob")));
    expect(newest.parley.mls_message.content_type).toBe("application");
    expect(await mlsNotifications("bob")).toHaveLength(2);
    // Alice sent both and was addressed by neither.
    expect(await mlsNotifications("alice")).toEqual([]);
  });

  it("are listed only when asked for: never by default, nor with the chat types Pleroma-FE and Soapbox ask for", async () => {
    for (const query of [
      "",
      "?include_types[]=pleroma:chat_mention",
      "?include_types[]=mention&include_types[]=pleroma:chat_mention&include_types[]=follow",
      "?exclude_types[]=pleroma:chat_mention",
      "?exclude_types[]=mention",
    ]) {
      expect((await as("bob").get(`/api/v1/notifications${query}`)).body).toEqual([]);
    }
    expect(await mlsNotifications("bob", "&exclude_types[]=parley:mls_message")).toEqual([]);
    expect((await as("bob").get("/api/v1/notifications?types[]=parley:mls_message")).body).toHaveLength(2);
    const both = await as("bob").get(`/api/v1/notifications?${MLS}&include_types[]=pleroma:chat_mention&limit=1`);
    expect(both.body).toHaveLength(1);
    expect(both.headers.get("link")).toContain("max_id=");
  });

  it("are streamed on user:notification (and user) when the store commits", async () => {
    const [notificationStream, userStream] = await Promise.all([open("bob", "user:notification"), open("bob", "user")]);
    const stored = await store("alice", ["bob"], await aliceMls.send("streamed"));
    const frame = await notificationStream.next(isMlsNotification, 3_000, "an MLS notification");
    expect(frame.stream).toEqual(["user:notification"]);
    const payload = JSON.parse(frame.payload);
    expect(payload).toEqual((await mlsNotifications("bob"))[0]);
    expect(payload.parley.mls_message.seq).toBe(seqOf(stored, "bob"));
    expect((await userStream.next(isMlsNotification, 3_000)).stream).toEqual(["user"]);
  });

  it("are not made for a rolled-back store", async () => {
    const before = await mlsNotifications("other");
    const object = await aliceMls.send("rolled back");
    const full = { ...object, id: `${parley.url}/mls-objects/rolled-back`, attributedTo: rows.alice.uri, to: [rows.other.uri] };
    const checked = await checkMlsObject(full, rows.alice.uri);
    if (!checked.ok || !("framing" in checked)) throw new Error("refused");
    await expect(
      parley.parley.deps.db.transaction(async (tx) => {
        await storeMlsObject(tx, {
          sender: rows.alice,
          objectUri: full.id,
          activityUri: `${full.id}/create`,
          activity: { id: `${full.id}/create`, type: "Create", object: full },
          envelope: checked.envelope,
          framing: checked.framing,
          recipients: [rows.other],
        });
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    expect(await mlsNotifications("other")).toEqual(before);
  });

  it("are never made for a sender the owner blocks (the entry is still stored)", async () => {
    expect((await as("blocker").post(`/api/v1/accounts/${accounts.alice.account.id}/block`)).status).toBe(200);
    const stored = await store("alice", ["blocker", "other"], await aliceMls.send("to a blocker"));
    expect(stored.mailbox.map((m) => [m.ownerId, m.notify])).toEqual([
      [rows.blocker.id, false],
      [rows.other.id, true],
    ]);
    expect(await mlsNotifications("blocker", "&with_muted=true")).toEqual([]);
    const count = await parley.parley.deps.db.execute(
      sql`SELECT count(*)::int AS n FROM notifications WHERE account_id = ${rows.blocker.id}`,
    );
    expect((count as unknown as { n: number }[])[0].n).toBe(0);
    expect((await mlsNotifications("other"))[0].parley.mls_message.seq).toBe(seqOf(stored, "other"));
    expect(await mailboxItem("blocker", seqOf(stored, "blocker"))).toMatchObject({ sender: rows.alice.uri });
  });

  it("from a muted sender are born seen, unstreamed, listed only with_muted", async () => {
    expect((await as("muter").post(`/api/v1/accounts/${accounts.alice.account.id}/mute`)).status).toBe(200);
    const socket = await open("muter", "user:notification");
    await store("alice", ["muter"], await aliceMls.send("to a muter"));
    expect(await mlsNotifications("muter")).toEqual([]);
    const [muted] = await mlsNotifications("muter", "&with_muted=true");
    expect(muted.pleroma).toEqual({ is_seen: true, is_muted: true });
    expect((await as("muter").get(`/api/v1/notifications/${muted.id}`)).body.pleroma).toEqual({ is_seen: true, is_muted: true });
    // The next one, from someone not muted, is streamed: the muted one never was.
    await store("bob", ["muter"], await aliceMls.send("not muted"));
    const frame = await socket.next(isMlsNotification, 3_000);
    expect(JSON.parse(frame.payload).account.id).toBe(accounts.bob.account.id);
    await sleep(200);
    expect(socket.all(isMlsNotification)).toHaveLength(1);
  });

  it("are shown, read, dismissed and cleared as other notifications; another account's is 404", async () => {
    const [newest, older] = await mlsNotifications("bob");
    const shown = await as("bob").get(`/api/v1/notifications/${newest.id}`);
    expect(shown.body).toEqual(newest);
    expect((await as("carol").get(`/api/v1/notifications/${newest.id}`)).status).toBe(404);

    const read = await as("bob").post("/api/v1/pleroma/notifications/read", { id: newest.id });
    expect(read.body).toMatchObject({ id: newest.id, type: "parley:mls_message", pleroma: { is_seen: true } });
    const readUpTo = await as("bob").post("/api/v1/pleroma/notifications/read", { max_id: older.id });
    expect(readUpTo.body.map((n: { id: string }) => n.id)).toContain(older.id);

    expect((await as("carol").post(`/api/v1/notifications/${newest.id}/dismiss`)).status).toBe(404);
    expect((await as("bob").post(`/api/v1/notifications/${newest.id}/dismiss`)).status).toBe(200);
    expect((await as("bob").get(`/api/v1/notifications/${newest.id}`)).status).toBe(404);
    expect((await mlsNotifications("bob")).map((n: { id: string }) => n.id)).not.toContain(newest.id);
    // Dismissing the notification leaves the mailbox entry.
    expect(await mailboxItem("bob", newest.parley.mls_message.seq)).toEqual(newest.parley.mls_message);

    expect((await as("bob").post("/api/v1/notifications/clear")).status).toBe(200);
    expect(await mlsNotifications("bob")).toEqual([]);
  });

  it("go with their MLS object, and with the sender's account", async () => {
    const stored = await store("carol", ["bob", "other"], await aliceMls.send("from carol"));
    expect(await mlsNotifications("bob")).toHaveLength(1);
    await parley.parley.deps.db.execute(sql`DELETE FROM mls_objects WHERE id = ${stored.objectId}`);
    expect(await mlsNotifications("bob")).toEqual([]);

    expect((await mlsNotifications("other")).length).toBeGreaterThan(0);
    const deleted = await api(parley.url, parley.adminToken).delete(`/api/v1/admin/accounts/${accounts.alice.account.id}`);
    expect(deleted.status).toBe(200);
    expect(await mlsNotifications("other")).toEqual([]);
    expect(await mlsNotifications("muter", `&with_muted=true&account_id=${accounts.alice.account.id}`)).toEqual([]);
  });
});
