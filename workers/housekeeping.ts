import type { Job } from "bullmq";
import { isNull, lt, sql } from "drizzle-orm";
import { purgeExpiredIdempotencyKeys } from "../src/chats/idempotency.js";
import { fedifyKv } from "../src/db/schema/index.js";
import { KV_MAX_TTL_MS } from "../src/federation/kv.js";
import { purgeExpiredHostState } from "../src/federation/outgoing/hosts.js";
import { removeOrphanUploads } from "../src/media/orphans.js";
import type { Deps } from "../src/shared/deps.js";

/**
 * Periodic cleanup: expired Idempotency-Keys (kept one hour), expired Fedify cache entries,
 * expired per-host delivery records (slots of dead holders, old failure counts and pauses), and
 * uploads no message has used for MEDIA_ORPHAN_TTL (src/media/orphans.ts). Cache entries written
 * without an expiry (before every entry got one, src/federation/kv.ts) get the longest one.
 */
export function housekeepingProcessor(deps: Pick<Deps, "db" | "config" | "logger">) {
  return async (job: Job) => {
    const idempotencyKeys = await purgeExpiredIdempotencyKeys(deps.db);
    const kv = await deps.db.delete(fedifyKv).where(lt(fedifyKv.expiresAt, new Date())).returning({ key: fedifyKv.key });
    await deps.db
      .update(fedifyKv)
      .set({ expiresAt: sql`now() + make_interval(secs => ${KV_MAX_TTL_MS / 1000})` })
      .where(isNull(fedifyKv.expiresAt));
    const hosts = await purgeExpiredHostState(deps.db);
    const uploads = await removeOrphanUploads(deps);
    const result = { idempotencyKeys, kvEntries: kv.length, ...hosts, ...uploads };
    deps.logger.debug({ job: job.name, ...result }, "housekeeping done");
    return result;
  };
}
