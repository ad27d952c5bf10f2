import type { Job } from "bullmq";
import { lt } from "drizzle-orm";
import { purgeExpiredIdempotencyKeys } from "../src/chats/idempotency.js";
import { fedifyKv } from "../src/db/schema/index.js";
import type { Deps } from "../src/shared/deps.js";

/** Periodic cleanup: expired Idempotency-Keys (kept one hour) and expired Fedify cache entries. */
export function housekeepingProcessor(deps: Pick<Deps, "db" | "logger">) {
  return async (job: Job) => {
    const idempotencyKeys = await purgeExpiredIdempotencyKeys(deps.db);
    const kv = await deps.db.delete(fedifyKv).where(lt(fedifyKv.expiresAt, new Date())).returning({ key: fedifyKv.key });
    const result = { idempotencyKeys, kvEntries: kv.length };
    deps.logger.debug({ job: job.name, ...result }, "housekeeping done");
    return result;
  };
}
