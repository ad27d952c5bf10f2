import { randomUUID } from "node:crypto";
import postgres from "postgres";
import { applyInboxActivities, applyInboxActivity } from "../src/federation/inbox/apply-activities.js";
import { newId } from "../src/shared/ids.js";
import { EVENTS_CHANNEL } from "../src/streaming/events.js";
import { deleteOf, type Json, pleromaChatMessage } from "./helpers/inbox.js";
import { createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import type { RemoteActor } from "./helpers/remote.js";

/**
 * The inbound worker applies the Creates of concurrent jobs in one transaction, and takes along
 * other pending Creates of cached authors (workers/inbound.ts applyCreates). Each row must come
 * out as if applied alone: exactly once, counters, notifications (muted: born seen, not streamed),
 * blocks, duplicates, stream events; a failed batch falls back to one transaction per row.
 */

let parley: TestParley;
let sql: postgres.Sql;
let bob: Awaited<ReturnType<typeof createAccount>>;
let bobUri: string;
let seq = 0;

beforeAll(async () => {
  // Web only: no worker takes the jobs; the tests apply the rows themselves.
  parley = await startTestParley({ queue: "postgres", role: "web" });
  sql = parley.parley.deps.db.$client;
  bob = await createAccount(parley, "bob");
  bobUri = `${parley.url}/users/bob`;
});
afterAll(async () => {
  await parley?.close();
});

const deps = () => parley.parley.deps;

/** A cached, fresh remote actor (no fetch needed), with its account id. */
async function remoteActor(): Promise<RemoteActor & { accountId: string }> {
  const n = ++seq;
  const id = `https://batch${n}.example/users/s${n}`;
  const accountId = newId();
  await sql`INSERT INTO accounts (id, username, domain, uri, inbox_url, accepts_chat_messages, software, fetched_at)
    VALUES (${accountId}, ${`s${n}`}, ${`batch${n}.example`}, ${id}, ${`${id}/inbox`}, true, 'pleroma', now())`;
  return {
    username: `s${n}`,
    id,
    keyId: `${id}#main-key`,
    inbox: `${id}/inbox`,
    publicKeyPem: "",
    privateKeyPem: "",
    document: {},
    accountId,
  };
}

/** Stores an accepted activity as the inbox does; returns its row id. */
async function store(actor: RemoteActor, payload: Json): Promise<string> {
  const id = newId();
  await sql`INSERT INTO inbox_activities (id, activity_uri, actor_uri, recipient_id, payload)
    VALUES (${id}, ${payload.id as string}, ${actor.id}, ${bob.account.id}, ${JSON.stringify(payload)}::jsonb)`;
  return id;
}

const create = (actor: RemoteActor, content: string, to = bobUri) => pleromaChatMessage(actor, to, { content });
const chatOf = async (actorAccountId: string) =>
  (
    await sql`SELECT id, unread, last_message_ref_id FROM chats WHERE account_id = ${bob.account.id} AND recipient_id = ${actorAccountId}`
  )[0];
const values = (results: PromiseSettledResult<unknown>[]) =>
  results.map((r) => (r.status === "fulfilled" ? r.value : `rejected: ${String(r.reason)}`));

it("applies the Creates of one batch as if one by one: counters, blocks, mutes, duplicates, unknown recipient, events", async () => {
  const [a, b, blocked, muted] = await Promise.all([remoteActor(), remoteActor(), remoteActor(), remoteActor()]);
  await sql`INSERT INTO blocks (account_id, target_account_id) VALUES (${bob.account.id}, ${blocked.accountId})`;
  await sql`INSERT INTO mutes (account_id, target_account_id) VALUES (${bob.account.id}, ${muted.accountId})`;
  const first = create(a, "a1");
  // The same object again under another activity id: one message only.
  const again = { ...create(a, "a1"), object: first.object };
  const ids = [
    await store(a, first),
    await store(a, create(a, "a2")),
    await store(b, create(b, "b1")),
    await store(a, again),
    await store(blocked, create(blocked, "blocked")),
    await store(muted, create(muted, "muted")),
    await store(a, create(a, "nobody", `${parley.url}/users/nobody`)),
  ];
  const events: Json[] = [];
  const listener = postgres(parley.databaseUrl, { max: 1 });
  await listener.listen(EVENTS_CHANNEL, (payload) => events.push(JSON.parse(payload)));
  try {
    const results = await applyInboxActivities(
      deps(),
      ids.map((id) => ({ id, lastAttempt: false })),
    );
    expect(values(results)).toEqual([
      { status: "applied", result: "created" },
      { status: "applied", result: "created" },
      { status: "applied", result: "created" },
      { status: "applied", result: "duplicate" },
      { status: "applied", result: "blocked" },
      { status: "applied", result: "created" },
      { status: "applied", result: "recipient gone" },
    ]);
    const rows = await sql`SELECT status, attempts FROM inbox_activities WHERE id IN ${sql(ids)}`;
    expect(rows.every((r) => r.status === "applied" && r.attempts === 1)).toBe(true);

    const chatA = await chatOf(a.accountId);
    expect(chatA.unread).toBe(2);
    const refsA =
      await sql`SELECT r.id, m.content FROM message_refs r JOIN messages m ON m.id = r.message_id WHERE r.chat_id = ${chatA.id} ORDER BY r.id`;
    // In arrival order; the chat's last message is the newest reference.
    expect(refsA.map((r) => r.content)).toEqual(["a1", "a2"]);
    expect(chatA.last_message_ref_id).toBe(refsA[1].id);
    const [stored] = await sql`SELECT uri, activity_uri, local, content, emojis, remote_attachment IS NULL AS no_attachment, published_at
      FROM messages WHERE uri = ${(first.object as Json).id as string}`;
    expect(stored).toMatchObject({ activity_uri: first.id, local: false, content: "a1", emojis: [], no_attachment: true });
    expect(new Date(stored.published_at).toISOString()).toBe((first.object as Json).published);
    expect((await chatOf(b.accountId)).unread).toBe(1);
    expect(await chatOf(blocked.accountId)).toBeUndefined();
    const chatMuted = await chatOf(muted.accountId);
    expect(chatMuted.unread).toBe(1);

    const notifications =
      await sql`SELECT from_account_id, seen FROM notifications WHERE account_id = ${bob.account.id} AND type = 'pleroma:chat_mention'`;
    const seenBy = new Map(notifications.map((n) => [n.from_account_id, n.seen]));
    expect(notifications).toHaveLength(4);
    expect(seenBy.get(muted.accountId)).toBe(true);
    expect(seenBy.get(a.accountId)).toBe(false);

    await new Promise((resolve) => setTimeout(resolve, 300));
    // One new-message event per message created, each naming its reference (none for the duplicate or the blocked one).
    const newMessages = events.filter((e) => e.type === "new_message");
    expect(newMessages).toHaveLength(4);
    expect(new Set(newMessages.map((e) => e.chat))).toEqual(new Set([chatA.id, (await chatOf(b.accountId)).id, chatMuted.id]));
    expect(newMessages.filter((e) => e.chat === chatA.id).map((e) => e.ref)).toEqual(refsA.map((r) => r.id));
    expect(events.filter((e) => e.type === "chat")).toEqual([]);
    // One notification event per unmuted message, none for the muted sender's.
    expect(events.filter((e) => e.type === "notification")).toHaveLength(3);
    expect(events.every((e) => e.account === bob.account.id)).toBe(true);

    // Exactly once: running the same rows again changes nothing.
    const rerun = await applyInboxActivities(
      deps(),
      ids.map((id) => ({ id, lastAttempt: false })),
    );
    expect(values(rerun).every((v) => (v as Json).status === "skipped")).toBe(true);
    expect((await chatOf(a.accountId)).unread).toBe(2);
  } finally {
    await listener.end();
  }
}, 20_000);

it("takes other pending Creates along; their own jobs then skip them", async () => {
  const actor = await remoteActor();
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push(await store(actor, create(actor, `pulled ${i}`)));
  const results = await applyInboxActivities(deps(), [{ id: ids[0], lastAttempt: false }], { pull: 10 });
  expect(values(results)).toEqual([{ status: "applied", result: "created" }]);
  const rows = await sql`SELECT id, status, attempts FROM inbox_activities WHERE id IN ${sql(ids)} ORDER BY id`;
  expect(rows.map((r) => r.status)).toEqual(Array(6).fill("applied"));
  // Never claimed by a job of their own.
  expect(rows.slice(1).every((r) => r.attempts === 0)).toBe(true);
  expect((await chatOf(actor.accountId)).unread).toBe(6);
  expect(await applyInboxActivity(deps(), ids[3], { lastAttempt: false })).toEqual({ status: "skipped" });
  expect((await chatOf(actor.accountId)).unread).toBe(6);
});

it("concurrent batches apply each row exactly once", async () => {
  const actors = await Promise.all([remoteActor(), remoteActor(), remoteActor()]);
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) ids.push(await store(actors[i % 3], create(actors[i % 3], `c${i}`)));
  const claims = ids.map((id) => ({ id, lastAttempt: false }));
  await Promise.all([
    applyInboxActivities(deps(), claims.slice(0, 10), { pull: 20 }),
    applyInboxActivities(deps(), claims.slice(10, 20), { pull: 20 }),
    applyInboxActivities(deps(), claims.slice(5, 25), { pull: 20 }),
    applyInboxActivities(deps(), claims.slice(25), { pull: 20 }),
  ]);
  const [{ count }] =
    await sql`SELECT count(*)::int AS count FROM messages m JOIN inbox_activities a ON a.activity_uri = m.activity_uri WHERE a.id IN ${sql(ids)}`;
  expect(count).toBe(30);
  for (const actor of actors) expect((await chatOf(actor.accountId)).unread).toBe(10);
  const rows = await sql`SELECT status FROM inbox_activities WHERE id IN ${sql(ids)}`;
  expect(rows.every((r) => r.status === "applied")).toBe(true);
}, 20_000);

it("a Delete claimed with its Create in the same batch applies after it", async () => {
  const actor = await remoteActor();
  const created = create(actor, "to be deleted");
  const createId = await store(actor, created);
  const deleteId = await store(actor, deleteOf(actor, (created.object as Json).id as string, bobUri));
  const results = await applyInboxActivities(deps(), [
    { id: deleteId, lastAttempt: false },
    { id: createId, lastAttempt: false },
  ]);
  expect(values(results)).toEqual([
    { status: "applied", result: "deleted" },
    { status: "applied", result: "created" },
  ]);
  expect((await chatOf(actor.accountId)).unread).toBe(0);
});

it("a failed batch falls back to one transaction per row", async () => {
  const actor = await remoteActor();
  const ids = [await store(actor, create(actor, "x1")), await store(actor, create(actor, "x2"))];
  const real = deps().db;
  let calls = 0;
  // The batch's transaction fails once (as a deadlock or a lost connection would).
  const db = new Proxy(real, {
    get(target, key, receiver) {
      if (key === "transaction") {
        return (...args: unknown[]) => {
          if (calls++ === 0) return Promise.reject(new Error(`simulated failure ${randomUUID()}`));
          return (target.transaction as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return Reflect.get(target, key, receiver);
    },
  });
  const results = await applyInboxActivities(
    { ...deps(), db },
    ids.map((id) => ({ id, lastAttempt: false })),
  );
  expect(values(results)).toEqual([
    { status: "applied", result: "created" },
    { status: "applied", result: "created" },
  ]);
  expect(calls).toBe(3);
  expect((await chatOf(actor.accountId)).unread).toBe(2);
});

it("a job whose row is applied already goes on with the pending Creates left by a batch out of time", async () => {
  const actor = await remoteActor();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(await store(actor, create(actor, `left ${i}`)));
  const backlog: boolean[] = [];
  const along: string[] = [];
  const results = await applyInboxActivities(deps(), [], {
    goOn: true,
    onBacklog: (left) => backlog.push(left),
    onAppliedAlong: (a) => along.push(...a),
  });
  expect(results).toEqual([]);
  expect(backlog).toEqual([false]);
  expect(new Set(along)).toEqual(new Set(ids));
  expect((await chatOf(actor.accountId)).unread).toBe(5);
});
