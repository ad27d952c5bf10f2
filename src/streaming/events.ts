import { sql, type SQL } from "drizzle-orm";
import type { Executor } from "../db/database.js";
import { chats, messageRefs } from "../db/schema/index.js";

/**
 * Stream events between processes: PostgreSQL `NOTIFY` on one channel, present in every mode
 * (Redis or not). A payload names ids only (NOTIFY caps it at 8000 bytes); each web process
 * renders what the event means for the account it names (src/streaming/hub.ts).
 *
 * Call these with the executor of the change's transaction: PostgreSQL delivers a notification
 * only when that transaction commits (never for a rolled-back change) and drops duplicates of the
 * same payload within it. Outside a transaction, call them after the change's statement.
 */

export const EVENTS_CHANNEL = "parley_events";

export type StreamEvent =
  | { type: "chat"; account: string; chat: string }
  | { type: "notification"; account: string; notification: string };

/** The account's chat changed (a message in or out, read, edit, deletion, hidden, delivery state). */
export async function publishChatUpdate(db: Executor, accountId: string, chatId: string): Promise<void> {
  await db.execute(sql`SELECT pg_notify(${EVENTS_CHANNEL}, json_build_object('type', 'chat', 'account', ${accountId}::text, 'chat', ${chatId}::text)::text)`);
}

/** A notification was created for the account. */
export async function publishNotification(db: Executor, accountId: string, notificationId: string): Promise<void> {
  await db.execute(
    sql`SELECT pg_notify(${EVENTS_CHANNEL}, json_build_object('type', 'notification', 'account', ${accountId}::text, 'notification', ${notificationId}::text)::text)`,
  );
}

/** A message changed in place (edit, delivery state): the chat of every local account that holds it. */
export async function publishMessageUpdate(db: Executor, messageId: string): Promise<void> {
  await db.execute(messageUpdateNotifySql(sql`${messageId}`));
}

/**
 * publishMessageUpdate as SQL, to end a statement that changes the message: `messageId` is any
 * expression of at most one id (a scalar subquery of a CTE, say).
 */
export function messageUpdateNotifySql(messageId: SQL): SQL {
  return sql`SELECT pg_notify(${EVENTS_CHANNEL}, json_build_object('type', 'chat', 'account', c.account_id, 'chat', c.id)::text)
    FROM ${messageRefs} r JOIN ${chats} c ON c.id = r.chat_id WHERE r.message_id = ${messageId}`;
}

/** The event a payload carries; undefined for anything else (another version's event, say). */
export function parseEvent(payload: string): StreamEvent | undefined {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || typeof value.account !== "string") return undefined;
  if (value.type === "chat" && typeof value.chat === "string") return { type: "chat", account: value.account, chat: value.chat };
  if (value.type === "notification" && typeof value.notification === "string") {
    return { type: "notification", account: value.account, notification: value.notification };
  }
  return undefined;
}
