import { mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { eventually } from "./helpers/inbox.js";
import { linksOf } from "./helpers/link-header.js";
import { png, upload, uploadEmoji } from "./helpers/media.js";
import { api, createAccount, dropDatabase, freePort, startTestParley, TEST_PG, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, signedGet, startRemoteServer } from "./helpers/remote.js";

/**
 * Migration 0007 (drizzle/0007_letter_ids.sql) on a database as the code before it left it: a first
 * Parley writes real rows (web role only, so a delivery stays queued), the test writes their ids
 * back in the legacy form (plain lower-case ULIDs, as ids were made before) and runs 0007's SQL
 * on them, as the migrator does at start (a database migrated from scratch, which every other test
 * file starts from, shows that the migrator runs it: drizzle runs only files newer than the last one
 * applied, so "forgetting" 0007 would also replay every later migration); a second Parley on the
 * same database, files and address then serves them. Clients come back with the legacy ids and
 * cursors they were given before.
 */

const LETTERS = "abcdefgh";
/** The id as the code before 0007 made it. */
const legacy = (id: string) => {
  expect(id).toMatch(/^[a-h][0-9a-hjkmnp-tv-z]{25}$/);
  return String(LETTERS.indexOf(id[0])) + id.slice(1);
};
/** SQL of the same mapping, for the rows. */
const toLegacy = (expr: string) => `translate(left(${expr}, 1), '${LETTERS}', '01234567') || substr(${expr}, 2)`;
const RENAMED = [
  "accounts",
  "access_tokens",
  "domain_blocks",
  "custom_emojis",
  "media",
  "messages",
  "chats",
  "message_refs",
  "notifications",
];
const migrationFile = new URL("../drizzle/0007_letter_ids.sql", import.meta.url);

const suffix = Math.random().toString(16).slice(2, 10);
const databaseUrl = `${TEST_PG}/parley_test_ids_${suffix}`;
const queuePrefix = `parley-test-ids-${suffix}`;
let dataDir: string;
let env: Record<string, string>;
let parley: TestParley;
let remote: RemoteServer;
let rob: RemoteActor;
let sql: postgres.Sql;
let deliveryIds: string[];
/** Ids after the first run of 0007 and after a second one. */
const rerun = { before: [] as string[][], after: [] as string[][] };

type Account = Awaited<ReturnType<typeof createAccount>>;
let alice: Account, bob: Account, carol: Account;
/** Ids as the API gave them before the upgrade (today's form = what each legacy id must become). */
const before = {
  chat: "",
  carolChat: "",
  robChat: "",
  refs: {} as Record<string, string>,
  robMessageUri: "",
  media: "",
  mediaUrl: "",
  notifications: [] as string[],
  domainBlock: "",
  /** The v2 list's `next` cursor after the first chat (alice's chat with rob). */
  v2Cursor: "",
};

const as = (who: Account) => api(parley.url, who.token);

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "parley-ids-"));
  const port = await freePort();
  env = { PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` };
  remote = await startRemoteServer();
  rob = remote.actor("rob", { capabilities: { acceptsChatMessages: true } });

  const old = await startTestParley({ databaseUrl, dataDir, queuePrefix, env, role: "web" });
  parley = old;
  [alice, bob, carol] = await Promise.all(["alice", "bob", "carol"].map((name) => createAccount(old, name)));
  const media = await upload(old.url, alice.token, png(), "tiny.png");
  expect(media.status).toBe(200);
  before.media = media.body.id;
  before.mediaUrl = media.body.url;

  const open = async (from: Account, to: string) => (await as(from).post(`/api/v1/pleroma/chats/by-account-id/${to}`)).body.id as string;
  before.chat = await open(alice, bob.account.id);
  const bobChat = await open(bob, alice.account.id);
  const say = async (from: Account, chatId: string, content: string, extra: Record<string, unknown> = {}) => {
    const sent = await as(from).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content, ...extra });
    expect(sent.status).toBe(200);
  };
  await say(bob, bobChat, "one");
  await say(alice, before.chat, "two", { media_id: before.media });
  await say(bob, bobChat, "three");
  await say(bob, bobChat, "four");
  const listed = await as(alice).get(`/api/v1/pleroma/chats/${before.chat}/messages`);
  for (const m of listed.body) before.refs[m.content.replace(/<[^>]+>/g, "")] = m.id;

  const carolChat = await open(carol, alice.account.id);
  await say(carol, carolChat, "hi alice");
  before.carolChat = await open(alice, carol.account.id);
  const found = await as(alice).get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(rob.id)}`);
  expect(found.status).toBe(200);
  before.robChat = await open(alice, found.body.id);
  await say(alice, before.robChat, "to rob");

  const notifications = await as(alice).get("/api/v1/notifications?include_types[]=pleroma:chat_mention");
  before.notifications = notifications.body.map((n: { id: string }) => n.id);
  expect(before.notifications).toHaveLength(4);
  const block = await api(old.url, old.adminToken).post("/api/v1/admin/domain_blocks", { domain: "blocked.example" });
  expect(block.status).toBe(200);
  before.domainBlock = block.body.id;
  expect((await uploadEmoji(old.url, old.adminToken, "blobcat", png())).status).toBe(201);
  const page = await as(alice).get("/api/v2/pleroma/chats?limit=1");
  expect(page.body[0].id).toBe(before.robChat);
  const next = linksOf(page.headers.get("link")).next!;
  before.v2Cursor = new URL(next).searchParams.get("max_id")!;
  await old.close();

  sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  deliveryIds = (await sql`SELECT id FROM deliveries WHERE status = 'pending'`).map((row) => row.id as string);
  expect(deliveryIds).toHaveLength(1);
  await writeLegacyIds();
  // The second run happens before the instance starts, as migrations do: with a running instance its
  // ALTER TABLEs would race the workers' locks (PostgreSQL then answers "deadlock detected").
  const snapshot = async () => Promise.all(RENAMED.map(idsOf));
  rerun.before = await snapshot();
  await applyMigration0007();
  rerun.after = await snapshot();
  parley = await startTestParley({ databaseUrl, dataDir, queuePrefix, env });
}, 90_000);

afterAll(async () => {
  await parley?.close();
  await sql?.end();
  await remote?.close();
  await dropDatabase(databaseUrl);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** The database as the code before 0007 would have left it, with 0007 not yet applied. */
async function writeLegacyIds() {
  const [file] = await sql`SELECT path FROM media`;
  const legacyPath = legacy(file.path.slice(0, 26)) + file.path.slice(26);
  await rename(path.join(dataDir, "media", file.path), path.join(dataDir, "media", legacyPath));
  before.mediaUrl = before.mediaUrl.replace(file.path, legacyPath);
  const uris = await sql`SELECT uri, activity_uri FROM messages WHERE local`;
  await sql.begin(async (tx) => {
    // The activity a pending delivery will send names the message by its URIs.
    for (const { uri, activity_uri } of uris) {
      for (const [now, was] of [uri, activity_uri].map((u: string) => [u, u.slice(0, -26) + legacy(u.slice(-26))])) {
        await tx`UPDATE deliveries SET activity = replace(activity::text, ${now}, ${was})::jsonb`;
      }
    }
    for (const table of RENAMED) await tx.unsafe(`UPDATE ${table} SET id = ${toLegacy("id")}`);
    await tx.unsafe(`UPDATE chats SET last_message_ref_id = ${toLegacy("last_message_ref_id")}`);
    // A local message's URIs end in the id it was made with.
    await tx.unsafe(`UPDATE messages SET uri = left(uri, -26) || ${toLegacy("right(uri, 26)")},
      activity_uri = left(activity_uri, -26) || ${toLegacy("right(activity_uri, 26)")} WHERE local`);
    await tx`UPDATE media SET path = ${legacyPath}`;
  });
  const [robMessage] = await sql`SELECT uri FROM messages WHERE content LIKE '%to rob%'`;
  before.robMessageUri = robMessage.uri;
  expect(before.robMessageUri).toMatch(/\/objects\/[0-7][0-9a-z]{25}$/);
  expect(await idsOf("accounts")).toEqual(expect.arrayContaining([expect.stringMatching(/^[0-7]/)]));
  await applyMigration0007();
}

/** 0007's statements in one transaction, as drizzle's migrator runs a file. */
async function applyMigration0007() {
  const statements = (await readFile(migrationFile, "utf8")).split("--> statement-breakpoint");
  await sql.begin(async (tx) => {
    for (const statement of statements) await tx.unsafe(statement);
  });
}

async function idsOf(table: string): Promise<string[]> {
  return (await sql.unsafe(`SELECT id FROM ${table} ORDER BY id`)).map((row) => row.id as string);
}

describe("migration 0007 (letter ids)", () => {
  it("renames every row, and every reference follows", async () => {
    for (const table of RENAMED) {
      const ids = await idsOf(table);
      expect(ids.length).toBeGreaterThan(0);
      for (const id of ids) expect(id).toMatch(/^[a-h][0-9a-hjkmnp-tv-z]{25}$/);
    }
    const [broken] = await sql`SELECT
      (SELECT count(*)::int FROM chats c WHERE c.last_message_ref_id IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM message_refs r WHERE r.id = c.last_message_ref_id AND r.chat_id = c.id)) AS last_refs,
      (SELECT count(*)::int FROM messages WHERE media_id IS NOT NULL) AS with_media,
      (SELECT count(*)::int FROM deliveries d JOIN messages m ON m.id = d.message_id) AS deliveries`;
    expect(broken).toEqual({ last_refs: 0, with_media: 1, deliveries: 1 });
    const [chat] = await sql`SELECT last_message_ref_id FROM chats WHERE id = ${before.chat}`;
    expect(chat.last_message_ref_id).toBe(before.refs.four);
    expect(await idsOf("media")).toEqual([before.media]);
    // Internal rows keep their ids: they are the ids of their queued jobs.
    expect(await idsOf("deliveries")).toEqual(deliveryIds);
    const [message] = await sql`SELECT uri FROM messages WHERE content LIKE '%to rob%'`;
    expect(message.uri).toBe(before.robMessageUri);
  });

  it("leaves the foreign keys as 0006 made them", async () => {
    const made = (await readFile(new URL("../drizzle/0006_client_compat.sql", import.meta.url), "utf8")).matchAll(
      /ADD CONSTRAINT "(\w+)" FOREIGN KEY .* ON DELETE (cascade|set null) ON UPDATE cascade/g,
    );
    const expected = [...made].map(([, name, onDelete]) => ({
      name,
      on_delete: onDelete === "cascade" ? "c" : "n",
      on_update: "c",
      valid: true,
    }));
    expect(expected).toHaveLength(22);
    // The keys of the tables 0006 knew (the MLS tables of 0010 have keys of their own, and so has
    // the notifications' key to mls_objects).
    const keys = await sql<
      { name: string }[]
    >`SELECT conname AS name, confdeltype AS on_delete, confupdtype AS on_update, convalidated AS valid
      FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace
        AND NOT starts_with(conrelid::regclass::text, 'mls_') AND NOT starts_with(confrelid::regclass::text, 'mls_')`;
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect([...keys].sort(byName)).toEqual(expected.sort(byName));
    expect((await sql`SELECT 1 FROM pg_proc WHERE proname = 'parley_letter_id'`).length).toBe(0);
  });

  it("a second run changes nothing", () => {
    expect(rerun.before.flat().length).toBeGreaterThan(RENAMED.length);
    expect(rerun.after).toEqual(rerun.before);
  });

  it("answers legacy ids in paths and bodies", async () => {
    const account = await as(alice).get(`/api/v1/accounts/${legacy(bob.account.id)}`);
    expect(account.status).toBe(200);
    expect(account.body.id).toBe(bob.account.id);
    const opened = await as(alice).post(`/api/v1/pleroma/chats/by-account-id/${legacy(bob.account.id)}`);
    expect(opened.body.id).toBe(before.chat);
    const chat = await as(alice).get(`/api/v1/pleroma/chats/${legacy(before.chat)}`);
    expect(chat.status).toBe(200);
    expect(chat.body).toMatchObject({ id: before.chat, unread: 3, last_message: { id: before.refs.four, chat_id: before.chat } });

    const media = await as(alice).get(`/api/v1/media/${legacy(before.media)}`);
    expect(media.status).toBe(200);
    expect(media.body).toMatchObject({ id: before.media, url: before.mediaUrl });
    const file = await fetch(before.mediaUrl);
    expect(file.status).toBe(200);
    expect(Buffer.from(await file.arrayBuffer())).toEqual(png());
    const withMedia = await as(alice).get(`/api/v1/pleroma/chats/${before.chat}/messages?max_id=${legacy(before.refs.three)}&limit=1`);
    expect(withMedia.body[0]).toMatchObject({ id: before.refs.two, attachment: { id: before.media, url: before.mediaUrl } });

    const notification = await as(alice).get(`/api/v1/notifications/${legacy(before.notifications[0])}`);
    expect(notification.status).toBe(200);
    expect(notification.body.id).toBe(before.notifications[0]);
    const admin = api(parley.url, parley.adminToken);
    expect((await admin.get(`/api/v1/pleroma/admin/chats/${legacy(before.chat)}`)).body.id).toBe(before.chat);
    expect((await admin.get(`/api/v1/admin/domain_blocks/${legacy(before.domainBlock)}`)).body.id).toBe(before.domainBlock);

    const read = await as(alice).post(`/api/v1/pleroma/chats/${legacy(before.chat)}/read`, { last_read_id: legacy(before.refs.three) });
    expect(read.status).toBe(200);
    expect(read.body.unread).toBe(1);
    const one = await as(alice).post(`/api/v1/pleroma/chats/${legacy(before.chat)}/messages/${legacy(before.refs.four)}/read`);
    expect(one.body).toMatchObject({ id: before.refs.four, unread: false });
    expect((await as(alice).get(`/api/v1/pleroma/chats/${before.chat}`)).body.unread).toBe(0);
  });

  it("pages across legacy and new rows with cursors handed out before the upgrade", async () => {
    const bobChat = (await as(bob).post(`/api/v1/pleroma/chats/by-account-id/${alice.account.id}`)).body.id;
    for (const content of ["five", "six"])
      expect((await as(bob).post(`/api/v1/pleroma/chats/${bobChat}/messages`, { content })).status).toBe(200);
    const list = async (query: string) => {
      const page = await as(alice).get(`/api/v1/pleroma/chats/${legacy(before.chat)}/messages?${query}`);
      expect(page.status).toBe(200);
      expect(page.headers.get("link") ?? "").not.toMatch(/_id=[0-7]/);
      return page.body.map((m: { content: string }) => m.content.replace(/<[^>]+>/g, ""));
    };
    expect(await list(`max_id=${legacy(before.refs.three)}`)).toEqual(["two", "one"]);
    expect(await list(`since_id=${legacy(before.refs.two)}`)).toEqual(["six", "five", "four", "three"]);
    expect(await list(`min_id=${legacy(before.refs.two)}&limit=2`)).toEqual(["four", "three"]);
    const newest = await as(alice).get(`/api/v1/pleroma/chats/${before.chat}/messages?limit=2`);
    expect(await list(`max_id=${newest.body[1].id}`)).toEqual(["four", "three", "two", "one"]);

    const older = await as(alice).get(
      `/api/v1/notifications?include_types[]=pleroma:chat_mention&max_id=${legacy(before.notifications[1])}`,
    );
    expect(older.body.map((n: { id: string }) => n.id)).toEqual(before.notifications.slice(2));
  });

  it("pages the v2 chat list from a cursor and a chat id handed out before the upgrade", async () => {
    const [at, chatId] = before.v2Cursor.split("_");
    const cursor = `${at}_${legacy(chatId)}`;
    const page = await as(alice).get(`/api/v2/pleroma/chats?limit=1&max_id=${cursor}`);
    expect(page.body.map((c: { id: string }) => c.id)).toEqual([before.carolChat]);
    const byId = await as(alice).get(`/api/v2/pleroma/chats?limit=1&max_id=${legacy(before.robChat)}`);
    expect(byId.body.map((c: { id: string }) => c.id)).toEqual([before.carolChat]);
    const newer = await as(alice).get(`/api/v2/pleroma/chats?since_id=${legacy(before.carolChat)}`);
    expect(newer.body.map((c: { id: string }) => c.id)).toContain(before.robChat);
    expect(newer.body.map((c: { id: string }) => c.id)).not.toContain(before.carolChat);
  });

  it("sends the delivery queued before the upgrade, and serves its object at the legacy URL", async () => {
    const create = await eventually(
      async () =>
        remote.requests
          .filter((r) => r.method === "POST")
          .map((r) => JSON.parse(r.body))
          .find((a) => a.type === "Create"),
      20_000,
      "the Create queued before the upgrade",
    );
    expect(create.object.id).toBe(before.robMessageUri);
    const [row] = await sql`SELECT status FROM deliveries WHERE id = ${deliveryIds[0]}`;
    expect(row.status).toBe("delivered");
    const object = await signedGet(before.robMessageUri, rob);
    expect(object.status).toBe(200);
    expect(object.json).toMatchObject({ id: before.robMessageUri, type: "ChatMessage" });
  }, 30_000);
});
