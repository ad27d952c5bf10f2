import { and, eq, lte } from "drizzle-orm";
import type { Executor } from "../db/database.js";
import { notifications } from "../db/schema/index.js";

/** Writes of notifications (they are created with their message: chat-timeline `addMessageToChat`). */

/** Removes one of the account's notifications; false when it is not theirs (or gone). */
export async function dismissNotification(db: Executor, ownerId: string, id: string): Promise<boolean> {
  const removed = await db
    .delete(notifications)
    .where(and(eq(notifications.id, id), eq(notifications.accountId, ownerId)))
    .returning({ id: notifications.id });
  return removed.length > 0;
}

export async function clearNotifications(db: Executor, ownerId: string): Promise<void> {
  await db.delete(notifications).where(eq(notifications.accountId, ownerId));
}

/** Pleroma's `notifications/read`: one notification (`id`) or all up to `maxId`, marked seen. Returns the ids that changed. */
export async function markNotificationsSeen(db: Executor, ownerId: string, target: { id: string } | { maxId: string }): Promise<string[]> {
  const rows = await db
    .update(notifications)
    .set({ seen: true })
    .where(
      and(
        eq(notifications.accountId, ownerId),
        eq(notifications.seen, false),
        "id" in target ? eq(notifications.id, target.id) : lte(notifications.id, target.maxId),
      ),
    )
    .returning({ id: notifications.id });
  return rows.map((row) => row.id);
}
