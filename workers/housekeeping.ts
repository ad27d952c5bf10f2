import type { Job } from "bullmq";
import { isNull, lt, sql } from "drizzle-orm";
import { purgeExpiredIdempotencyKeys } from "../src/chats/idempotency.js";
import { fedifyKv } from "../src/db/schema/index.js";
import { KV_MAX_TTL_MS } from "../src/federation/kv.js";
import { purgeExpiredHostState } from "../src/federation/outgoing/hosts.js";
import type { Deps } from "../src/shared/deps.js";

/**
 * Periodic cleanup: expired Idempotency-Keys (kept one hour), expired Fedify cache entries, and
 * expired per-host delivery records (slots of dead holders, old failure counts and pauses).
 * Cache entries written without an expiry (before every entry got one, src/federation/kv.ts)
 * get the longest one.
 */
export function housekeepingProcessor(deps: Pick<Deps, "db" | "logger">) {
  return async (job: Job) => {
    const idempotencyKeys = await purgeExpiredIdempotencyKeys(deps.db);
    const kv = await deps.db.delete(fedifyKv).where(lt(fedifyKv.expiresAt, new Date())).returning({ key: fedifyKv.key });
    await deps.db
      .update(fedifyKv)
      .set({ expiresAt: sql`now() + make_interval(secs => ${KV_MAX_TTL_MS / 1000})` })
      .where(isNull(fedifyKv.expiresAt));
    const hosts = await purgeExpiredHostState(deps.db);
    const result = { idempotencyKeys, kvEntries: kv.length, ...hosts };
    deps.logger.debug({ job: job.name, ...result }, "housekeeping done");
    return result;
  };
}
