import { access, readdir, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Job } from "bullmq";
import { removeOrphanUploads } from "../src/media/orphans.js";
import { housekeepingProcessor } from "../workers/housekeeping.js";
import { chatHelpers } from "./helpers/chats.js";
import { png, upload } from "./helpers/media.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * MEDIA_ORPHAN_TTL (1 hour here): housekeeping removes the uploads no message names once they are
 * older than that — row and file —, and keeps the rest; an upload being attached at that moment
 * keeps its file, and a message sent with an upload removed meanwhile is a 400, never a 500.
 */

let parley: TestParley;
const { account, as, chatWith } = chatHelpers(() => parley);
const sql = () => parley.parley.deps.db.$client;
const mediaDir = () => path.join(parley.parley.deps.config.dataDir, "media");
const exists = (file: string) =>
  access(path.join(mediaDir(), file)).then(
    () => true,
    () => false,
  );

beforeAll(async () => {
  parley = await startTestParley({ env: { MEDIA_ORPHAN_TTL: "1h" } });
});
afterAll(() => parley.close());

async function uploadAs(who: { token: string }): Promise<{ id: string; file: string }> {
  const response = await upload(parley.url, who.token, png(3, 2), "x.png");
  expect(response.status).toBe(200);
  return { id: response.body.id, file: `${response.body.id}.png` };
}
const age = (id: string, interval: string) => sql()`UPDATE media SET created_at = now() - ${interval}::interval WHERE id = ${id}`;

it("removes old unattached uploads (row and file), keeps attached and recent ones, and stale temporary files go", async () => {
  const alice = await account("alice");
  const bob = await account("bob");
  const chat = await chatWith(alice, bob);
  const attached = await uploadAs(alice);
  const orphan = await uploadAs(alice);
  const recent = await uploadAs(alice);
  const ofDeleted = await uploadAs(alice);
  expect((await as(alice).post(`/api/v1/pleroma/chats/${chat}/messages`, { media_id: attached.id })).status).toBe(200);
  const sent = await as(alice).post(`/api/v1/pleroma/chats/${chat}/messages`, { media_id: ofDeleted.id });
  expect((await as(alice).delete(`/api/v1/pleroma/chats/${chat}/messages/${sent.body.id}`)).status).toBe(200);
  for (const old of [attached, orphan, ofDeleted]) await age(old.id, "61 minutes");
  await age(recent.id, "59 minutes");
  const tmp = path.join(mediaDir(), "tmp");
  await writeFile(path.join(tmp, "stale"), "x");
  await utimes(path.join(tmp, "stale"), new Date(Date.now() - 2 * 3_600_000), new Date(Date.now() - 2 * 3_600_000));
  await writeFile(path.join(tmp, "in-progress"), "x");

  const result = await housekeepingProcessor(parley.parley.deps)({ name: "purge-expired" } as Job);

  expect(result).toMatchObject({ orphanUploads: 2, temporaryFiles: 1 });
  const rows = (await sql()`SELECT id FROM media`).map((row) => row.id).sort();
  expect(rows).toEqual([attached.id, recent.id].sort());
  expect(await exists(orphan.file)).toBe(false);
  expect(await exists(ofDeleted.file)).toBe(false);
  expect(await exists(attached.file)).toBe(true);
  expect(await exists(recent.file)).toBe(true);
  expect(await readdir(tmp)).toEqual(["in-progress"]);
  // The attached upload is still served with its message.
  expect((await fetch(new URL(`/media/${attached.file}`, parley.url))).status).toBe(200);
});

it("skips an old upload that a message is being sent with right now; it stays once the message commits", async () => {
  const alice = await account("racer");
  const bob = await account("peer");
  const chat = await chatWith(alice, bob);
  const item = await uploadAs(alice);
  await age(item.id, "2 hours");
  const [{ id: chatRow }] = await sql()`SELECT id FROM chats WHERE account_id = ${alice.account.id}`;
  expect(chatRow).toBe(chat);

  // A sender's transaction as chat.service runs it: the upload read FOR KEY SHARE, the message
  // inserted, not yet committed while housekeeping runs.
  const reserved = sql().reserve();
  const connection = await reserved;
  try {
    await connection`BEGIN`;
    await connection`SELECT id FROM media WHERE id = ${item.id} FOR KEY SHARE`;
    await connection`INSERT INTO messages (id, uri, author_id, recipient_id, media_id, local, published_at)
      VALUES ('a0000000000000000000000001', 'http://x/objects/race', ${alice.account.id}, ${bob.account.id}, ${item.id}, true, now())`;
    const during = await removeOrphanUploads(parley.parley.deps);
    expect(during.orphanUploads).toBe(0);
    await connection`COMMIT`;
  } finally {
    connection.release();
  }
  expect(await removeOrphanUploads(parley.parley.deps)).toMatchObject({ orphanUploads: 0 });
  expect(await sql()`SELECT id FROM media WHERE id = ${item.id}`).toHaveLength(1);
  expect(await exists(item.file)).toBe(true);
});

it("answers 400 naming media_id (not a 500) to a message sent with an upload that housekeeping removes at that moment", async () => {
  const alice = await account("late");
  const bob = await account("other");
  const chat = await chatWith(alice, bob);
  const item = await uploadAs(alice);
  await age(item.id, "2 hours");

  // Housekeeping's transaction: the row locked, then deleted; the send starts in between.
  const connection = await sql().reserve();
  let answer: Promise<{ status: number; body: unknown }> | undefined;
  try {
    await connection`BEGIN`;
    await connection`SELECT id FROM media WHERE id = ${item.id} FOR UPDATE`;
    answer = as(alice).post(`/api/v1/pleroma/chats/${chat}/messages`, { media_id: item.id });
    // Let the send reach the locked row.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await connection`DELETE FROM media WHERE id = ${item.id}`;
    await connection`COMMIT`;
  } finally {
    connection.release();
  }
  const response = await answer!;
  expect(response.status).toBe(400);
  expect(response.body).toMatchObject({ error: "forbidden", field: "media_id" });
  expect(await sql()`SELECT id FROM messages WHERE author_id = ${alice.account.id}`).toHaveLength(0);
});
