import type { Queue } from "bullmq";
import { and, asc, eq, isNull, lt, or, sql } from "drizzle-orm";
import type { Executor } from "../../db/database.js";
import { deliveries } from "../../db/schema/index.js";
import { type DeliveryJobRef, deliveryJob, deliveryJobOptions } from "./deliveries.js";

/**
 * PostgreSQL is the source of truth of deliveries; the queue only runs them. The reconciler looks
 * at pending rows that should have run by now (`next_attempt_at` older than the grace period)
 * and repairs their job: missing (Redis lost or flushed, enqueue failed after commit) or finished
 * while the row is still pending → added again; delayed past the row's time (a lifted host pause)
 * → promoted. Rows not due yet are left alone: if their job is lost, they are found once due.
 * It runs as a job scheduler on the `deliver` queue (every `reconcileEveryMs`); several
 * processes running it at once do no harm (the job id is the delivery id).
 */

export const RECONCILE_JOB = "reconcile";
export const RECONCILE_SCHEDULER_ID = "reconcile-deliveries";

export interface ReconcileResult {
  checked: number;
  requeued: number;
  promoted: number;
}

export interface ReconcileOptions {
  /** Rows due for less than this are not looked at (their job may be about to run). */
  graceMs: number;
  /** Rows looked at per run, oldest due first. */
  limit?: number;
}

type Repair = "ok" | "requeued" | "promoted";

async function repair(queue: Queue, ref: DeliveryJobRef): Promise<Repair> {
  const { id } = ref;
  const job = await queue.getJob(id);
  if (job) {
    const state = await job.getState();
    if (state === "delayed") {
      await job.promote().catch(() => {});
      return "promoted";
    }
    if (state !== "completed" && state !== "failed" && state !== "unknown") return "ok";
    // The job ended (crashed too often, say) while the row is still pending: run it again.
    await job.remove().catch(() => {});
  }
  const named = deliveryJob(ref);
  await queue.add(named.name, named.data, deliveryJobOptions(id));
  return "requeued";
}

export async function reconcileDeliveries(
  deps: { db: Executor; queues: { deliver: Queue } },
  options: ReconcileOptions,
): Promise<ReconcileResult> {
  const result: ReconcileResult = { checked: 0, requeued: 0, promoted: 0 };
  const limit = options.limit ?? 10_000;
  const dueBefore = new Date(Date.now() - options.graceMs);
  const page = 200;
  // Keyset cursor; the time stays text, exact to the microsecond (a JS Date would round it).
  let after: { at: string; id: string } | undefined;
  while (result.checked < limit) {
    const rows = await deps.db
      .select({
        id: deliveries.id,
        at: sql<string>`coalesce(${deliveries.nextAttemptAt}, ${deliveries.createdAt})::text`,
        type: sql<string>`coalesce(${deliveries.activity}->>'type', 'activity')`,
        inboxUrl: deliveries.inboxUrl,
        messageId: deliveries.messageId,
      })
      .from(deliveries)
      .where(
        and(
          eq(deliveries.status, "pending"),
          or(isNull(deliveries.nextAttemptAt), lt(deliveries.nextAttemptAt, dueBefore)),
          after
            ? sql`(coalesce(${deliveries.nextAttemptAt}, ${deliveries.createdAt}), ${deliveries.id}) > (${after.at}::timestamptz, ${after.id})`
            : undefined,
        ),
      )
      .orderBy(asc(sql`coalesce(${deliveries.nextAttemptAt}, ${deliveries.createdAt})`), asc(deliveries.id))
      .limit(Math.min(page, limit - result.checked));
    if (rows.length === 0) break;
    const repairs = await Promise.all(rows.map((row) => repair(deps.queues.deliver, row)));
    result.checked += rows.length;
    result.requeued += repairs.filter((r) => r === "requeued").length;
    result.promoted += repairs.filter((r) => r === "promoted").length;
    const last = rows[rows.length - 1];
    after = { at: last.at, id: last.id };
    if (rows.length < page) break;
  }
  return result;
}
