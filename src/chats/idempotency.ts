import { and, eq, sql } from "drizzle-orm";
import type { Executor, Transaction } from "../db/database.js";
import { idempotencyKeys } from "../db/schema/index.js";

/** Account-scoped `Idempotency-Key`s, kept one hour (Mastodon's figure), in PostgreSQL. */

const IDEMPOTENCY_TTL = "1 hour";

export interface StoredResponse {
  status: number;
  body: unknown;
}

/**
 * Takes the key for this request, or returns the response stored by the first request that took
 * it. The insert waits on a concurrent holder of the same key, so two racing requests never both
 * act.
 */
export async function claimIdempotencyKey(tx: Transaction, accountId: string, key: string): Promise<StoredResponse | undefined> {
  await tx.execute(
    sql`DELETE FROM ${idempotencyKeys} WHERE account_id = ${accountId} AND key = ${key} AND created_at < now() - ${IDEMPOTENCY_TTL}::interval`,
  );
  const claimed = await tx
    .insert(idempotencyKeys)
    .values({ accountId, key, status: 0, body: {} })
    .onConflictDoNothing()
    .returning({ key: idempotencyKeys.key });
  if (claimed.length > 0) return undefined;
  const [previous] = await tx
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.accountId, accountId), eq(idempotencyKeys.key, key)));
  // Stored as JSON text: jsonb reorders keys, and a replay must be the identical response.
  const body = typeof previous.body === "string" ? JSON.parse(previous.body) : previous.body;
  return { status: previous.status, body };
}

/** Records the response of the request that claimed the key (same transaction as its effects). */
export async function storeIdempotentResponse(tx: Transaction, accountId: string, key: string, response: StoredResponse) {
  await tx
    .update(idempotencyKeys)
    .set({ status: response.status, body: JSON.stringify(response.body) })
    .where(and(eq(idempotencyKeys.accountId, accountId), eq(idempotencyKeys.key, key)));
}

export async function purgeExpiredIdempotencyKeys(db: Executor): Promise<number> {
  const rows = await db
    .delete(idempotencyKeys)
    .where(sql`${idempotencyKeys.createdAt} < now() - ${IDEMPOTENCY_TTL}::interval`)
    .returning({ key: idempotencyKeys.key });
  return rows.length;
}
