import type { Job } from "bullmq";
import { KV_MAX_TTL_MS } from "../src/federation/kv.js";
import { housekeepingProcessor } from "../workers/housekeeping.js";
import { createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

let parley: TestParley;
beforeAll(async () => {
  parley = await startTestParley({ queue: "redis" });
});
afterAll(() => parley.close());

it("purges idempotency keys older than an hour, expired Fedify cache entries (bounding those without an expiry) and expired per-host delivery records, keeping the rest", async () => {
  const sql = parley.parley.deps.db.$client;
  const { account } = await createAccount(parley, "keeper");
  await sql`INSERT INTO idempotency_keys (account_id, key, status, body, created_at) VALUES
    (${account.id}, 'old', 200, '{}', now() - interval '61 minutes'),
    (${account.id}, 'fresh', 200, '{}', now() - interval '59 minutes')`;
  await sql`INSERT INTO fedify_kv (key, value, expires_at) VALUES
    ('["expired"]', '1', now() - interval '1 second'), ('["alive"]', '1', now() + interval '1 hour'), ('["forever"]', '1', NULL)`;

  await sql`INSERT INTO host_slots (host, slot, holder, expires_at) VALUES
    ('dead.example', 0, 'dead', now() - interval '1 second'), ('busy.example', 0, 'alive', now() + interval '1 minute')`;
  await sql`INSERT INTO host_states (host, failures, expires_at) VALUES
    ('old.example', 3, now() - interval '1 second'), ('paused.example', 0, now() + interval '30 minutes')`;

  const result = await housekeepingProcessor(parley.parley.deps)({ name: "purge-expired" } as Job);

  expect(result).toEqual({ idempotencyKeys: 1, kvEntries: 1, hostSlots: 1, hostStates: 1, orphanUploads: 0, temporaryFiles: 0 });
  expect((await sql`SELECT host FROM host_slots`).map((r) => r.host)).toEqual(["busy.example"]);
  expect((await sql`SELECT host FROM host_states`).map((r) => r.host)).toEqual(["paused.example"]);
  expect((await sql`SELECT key FROM idempotency_keys ORDER BY key`).map((r) => r.key)).toEqual(["fresh"]);
  expect((await sql`SELECT key FROM fedify_kv ORDER BY key`).map((r) => r.key)).toEqual(['["alive"]', '["forever"]']);
  // The entry written without an expiry now has the longest one (a week), not "never".
  const [forever] = await sql`SELECT extract(epoch FROM expires_at - now())::int AS left_s FROM fedify_kv WHERE key = '["forever"]'`;
  expect(Math.abs(forever.left_s - KV_MAX_TTL_MS / 1000)).toBeLessThanOrEqual(60);
});
