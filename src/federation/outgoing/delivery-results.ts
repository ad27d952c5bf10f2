import { and, eq, isNull, sql } from "drizzle-orm";
import { accounts, deliveries, hostSlots, hostStates } from "../../db/schema/index.js";
import type { Deps } from "../../shared/deps.js";
import { messageUpdateNotifySql, publishMessageUpdate } from "../../streaming/events.js";
import type { Outcome } from "./policy.js";

/** What an attempt's end writes: the `deliveries` row, the host's slot and state, the sender's stream. */

type DeliveryRow = typeof deliveries.$inferSelect;

/**
 * A delivery went through, in one statement: its slot is released, the host's failure count
 * starts again, the row is delivered and the sender's chat streamed.
 */
export async function finishDelivered(db: Deps["db"], row: DeliveryRow, host: string, slot: number, holder: string) {
  await db.execute(sql`
    WITH released AS (DELETE FROM ${hostSlots} WHERE host = ${host} AND slot = ${slot} AND holder = ${holder}),
    healthy AS (DELETE FROM ${hostStates} WHERE host = ${host}),
    done AS (
      UPDATE ${deliveries} SET status = 'delivered', attempts = attempts + 1, last_error = NULL, next_attempt_at = NULL, updated_at = now()
      WHERE id = ${row.id} AND status = 'pending'
      RETURNING message_id)
    ${messageUpdateNotifySql(sql`(SELECT message_id FROM done)`)}`);
}

/** The first bytes of an error answer, for `last_error` (peers often say why). */
export function errorDetail(body: Buffer): string {
  // Control characters (NUL above all: PostgreSQL text refuses it) become spaces.
  const text = body
    .subarray(0, 200)
    .toString("utf8")
    .replace(/[\s\u0000-\u001f\u007f\ufffd]+/g, " ")
    .trim();
  return text ? `: ${text}` : "";
}

/** The delivery failed for good: the row says so (and the account is gone on a 404/410). */
export async function recordFailure(
  deps: Pick<Deps, "db" | "logger">,
  row: DeliveryRow,
  outcome: Exclude<Outcome, { kind: "retry" | "delivered" }>,
): Promise<void> {
  const { db } = deps;
  if (outcome.gone && row.recipientId) {
    // 404/410 from the actor's own inbox: the account no longer exists there. Written before the
    // row's state, so whoever sees the delivery failed also sees the account gone.
    await db
      .update(accounts)
      .set({ goneAt: new Date() })
      .where(and(eq(accounts.id, row.recipientId), isNull(accounts.goneAt)));
  }
  const changed = await db
    .update(deliveries)
    .set({
      status: "failed",
      attempts: sql`${deliveries.attempts} + 1`,
      lastError: outcome.error,
      nextAttemptAt: null,
      updatedAt: new Date(),
    })
    .where(and(eq(deliveries.id, row.id), eq(deliveries.status, "pending")))
    .returning({ id: deliveries.id });
  // The sender's `parley.delivery` changed (committed above): their chat is streamed.
  if (changed.length > 0 && row.messageId) await publishMessageUpdate(db, row.messageId);
  deps.logger.warn({ delivery: row.id, inbox: row.inboxUrl, error: outcome.error }, "delivery failed for good");
}
