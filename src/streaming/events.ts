import { type SQL, sql } from "drizzle-orm";
import type { Executor } from "../db/database.js";
import { chats, messageRefs, mlsMailbox } from "../db/schema/index.js";

/**
 * Stream events between processes: PostgreSQL `NOTIFY` on one channel, present in every mode
 * (Redis or not). A payload names ids only (NOTIFY caps it at 8000 bytes); each web process
 * renders what the event means for the account it names (src/streaming/hub.ts).
 *
 * Call these with the executor of the change's transaction: PostgreSQL delivers a notification
 * only when that transaction commits (never for a rolled-back change) and drops duplicates of the
 * same payload within it. Outside a transaction, call them after the change's statement.
 *
 * What clients see of each (docs/architecture.md, "Events (streaming)"): only a new message and a
 * deletion reach them as Pleroma's events; every other change is a `parley:` event, which
 * Pleroma-FE, Soapbox and megalodon skip. `token_revoked` and `account_gone` render nothing: they
 * close the sockets concerned (docs/decisions/0005-streaming-close-on-revocation.md).
 */

export const EVENTS_CHANNEL = "parley_events";

export type StreamEvent =
  /** A message arrived in the account's chat (in or out): `ref` is the account's reference to it. */
  | { type: "new_message"; account: string; chat: string; ref: string }
  /** The chat changed otherwise (read, hidden, a message removed, restored). */
  | { type: "chat"; account: string; chat: string }
  /** A message of the chat changed in place (edit, delivery state, link card). */
  | { type: "message"; account: string; chat: string; ref: string }
  /** The account's reference to a message is gone (deleted by anyone, or hidden for the account). */
  | { type: "message_deleted"; account: string; chat: string; ref: string }
  | { type: "notification"; account: string; notification: string }
  /** A new entry in the account's MLS mailbox (`seq` is the owner's sequence number); announced only when its row says notify. */
  | { type: "mls_message"; account: string; seq: number }
  /** The token was revoked: sockets opened with it close. */
  | { type: "token_revoked"; account: string; token: string }
  /** The account was deleted: all its sockets close. */
  | { type: "account_gone"; account: string };

/** Events that end sockets rather than show something. */
export type SessionEvent = Extract<StreamEvent, { type: "token_revoked" | "account_gone" }>;
export type RenderableEvent = Exclude<StreamEvent, SessionEvent>;
export const isSessionEvent = (event: StreamEvent): event is SessionEvent =>
  event.type === "token_revoked" || event.type === "account_gone";

const notify = (event: StreamEvent) => sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify(event)})`;

/** A message arrived in the account's chat: `refId` is that account's reference to it. */
export async function publishNewMessage(db: Executor, accountId: string, chatId: string, refId: string): Promise<void> {
  await db.execute(notify({ type: "new_message", account: accountId, chat: chatId, ref: refId }));
}

/** The account's chat changed without a new message (read, hidden, a message removed or restored). */
export async function publishChatUpdate(db: Executor, accountId: string, chatId: string): Promise<void> {
  await db.execute(notify({ type: "chat", account: accountId, chat: chatId }));
}

/** The account's reference `refId` (in chat `chatId`) was removed. */
export async function publishMessageDeleted(db: Executor, accountId: string, chatId: string, refId: string): Promise<void> {
  await db.execute(notify({ type: "message_deleted", account: accountId, chat: chatId, ref: refId }));
}

/** A notification was created for the account. */
export async function publishNotification(db: Executor, accountId: string, notificationId: string): Promise<void> {
  await db.execute(notify({ type: "notification", account: accountId, notification: notificationId }));
}

/**
 * A new entry in the owner's MLS mailbox, announced as `parley:mls_message` — only when its row has
 * `notify` (an entry from a blocked sender is stored, never announced): the check is part of the
 * statement, so callers may publish every row `storeMlsObject` returned.
 */
export async function publishMlsMessage(db: Executor, ownerId: string, seq: number): Promise<void> {
  await db.execute(sql`SELECT pg_notify(${EVENTS_CHANNEL}, json_build_object('type', 'mls_message', 'account', m.owner_id, 'seq', m.seq)::text)
    FROM ${mlsMailbox} m WHERE m.owner_id = ${ownerId} AND m.seq = ${seq} AND m.notify`);
}

/** publishMlsMessage for each mailbox row of one stored object (`storeMlsObject`'s `mailbox`). */
export async function publishMlsMessages(db: Executor, rows: readonly { ownerId: string; seq: number }[]): Promise<void> {
  for (const row of rows) await publishMlsMessage(db, row.ownerId, row.seq);
}

/** A token was revoked (its row deleted). */
export async function publishTokenRevoked(db: Executor, accountId: string, tokenId: string): Promise<void> {
  await db.execute(notify({ type: "token_revoked", account: accountId, token: tokenId }));
}

/** A local account was deleted. */
export async function publishAccountGone(db: Executor, accountId: string): Promise<void> {
  await db.execute(notify({ type: "account_gone", account: accountId }));
}

/** A message changed in place (edit, delivery state, link card): every local account that holds it. */
export async function publishMessageUpdate(db: Executor, messageId: string): Promise<void> {
  await db.execute(messageUpdateNotifySql(sql`${messageId}`));
}

/**
 * publishMessageUpdate as SQL, to end a statement that changes the message: `messageId` is any
 * expression of at most one id (a scalar subquery of a CTE, say).
 */
export function messageUpdateNotifySql(messageId: SQL): SQL {
  return sql`SELECT pg_notify(${EVENTS_CHANNEL}, json_build_object('type', 'message', 'account', c.account_id, 'chat', c.id, 'ref', r.id)::text)
    FROM ${messageRefs} r JOIN ${chats} c ON c.id = r.chat_id WHERE r.message_id = ${messageId}`;
}

const isId = (value: unknown): value is string => typeof value === "string" && value.length > 0 && value.length <= 64;

/** The event a payload carries; undefined for anything else (another version's event, say). */
export function parseEvent(payload: string): StreamEvent | undefined {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || !isId(value.account)) return undefined;
  const { type, account, chat, ref, notification, token, seq } = value;
  switch (type) {
    case "new_message":
    case "message":
    case "message_deleted":
      return isId(chat) && isId(ref) ? { type, account, chat, ref } : undefined;
    case "chat":
      return isId(chat) ? { type, account, chat } : undefined;
    case "notification":
      return isId(notification) ? { type, account, notification } : undefined;
    case "mls_message":
      return Number.isSafeInteger(seq) && (seq as number) > 0 ? { type, account, seq: seq as number } : undefined;
    case "token_revoked":
      return isId(token) ? { type, account, token } : undefined;
    case "account_gone":
      return { type, account };
    default:
      return undefined;
  }
}
