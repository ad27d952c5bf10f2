import { and, asc, desc, eq, gt, inArray, isNotNull, lt, notExists, or, type SQL, sql } from "drizzle-orm";
import { renderAccount } from "../accounts/account.view.js";
import { renderMessage } from "../chats/chat.view.js";
import type { Executor } from "../db/database.js";
import { accounts, blocks, chats, media, messageRefs, messages, mlsMailbox, mlsObjects, mutes, notifications } from "../db/schema/index.js";
import { linkCardSql } from "../link-cards/link-cards.js";

/** Reads that render Notification JSON (Pleroma's shape): one query per page, whatever its length. */

export const NOTIFICATION_TYPES = ["pleroma:chat_mention", "parley:mls_message"] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

/**
 * Types listed when the client names none: Mastodon's defaults, none of which Parley has.
 * `pleroma:chat_mention` comes only when asked (`include_types[]`/`types[]`), as in Pleroma, and so
 * does `parley:mls_message` (decision 0017): Pleroma-FE and Soapbox never ask for it.
 */
const DEFAULT_TYPES: readonly string[] = ["mention", "status", "reblog", "follow", "follow_request", "favourite", "poll", "update", "move"];

/**
 * Every type's subject, left-joined: a chat message (through the owner's reference) or an MLS
 * object with the owner's mailbox entry of it. The callers' conditions go through `where`, which
 * also drops a notification whose subject is gone.
 */
function notificationQuery(db: Executor) {
  return db
    .select({
      notification: notifications,
      sender: accounts,
      ref: messageRefs,
      message: messages,
      chat: chats,
      attachment: media,
      card: linkCardSql(messages),
      mls: { seq: mlsMailbox.seq, createdAt: mlsMailbox.createdAt },
      mlsObject: mlsObjects,
      muted: sql<boolean>`EXISTS (SELECT 1 FROM ${mutes} m WHERE m.account_id = ${notifications.accountId} AND m.target_account_id = ${notifications.fromAccountId})`,
    })
    .from(notifications)
    .innerJoin(accounts, eq(accounts.id, notifications.fromAccountId))
    .leftJoin(messageRefs, eq(messageRefs.id, notifications.messageRefId))
    .leftJoin(messages, eq(messages.id, messageRefs.messageId))
    .leftJoin(chats, eq(chats.id, messageRefs.chatId))
    .leftJoin(media, eq(media.id, messages.mediaId))
    .leftJoin(mlsObjects, eq(mlsObjects.id, notifications.mlsObjectId))
    .leftJoin(mlsMailbox, and(eq(mlsMailbox.ownerId, notifications.accountId), eq(mlsMailbox.objectId, notifications.mlsObjectId)));
}

/** The conditions, and the notification's subject still there. */
const withSubject = (...conditions: SQL[]) =>
  and(...conditions, or(and(isNotNull(messages.id), isNotNull(chats.id)), isNotNull(mlsMailbox.seq)));

type NotificationRow = Awaited<ReturnType<ReturnType<typeof notificationQuery>["execute"]>>[number];

const objectOf = (activity: unknown): unknown =>
  typeof activity === "object" && activity !== null ? ((activity as Record<string, unknown>).object ?? null) : null;

/**
 * The mailbox entry as `GET /api/v1/parley/mls/messages` and the `parley:mls_message` event show it
 * (src/streaming/mls-message.view.ts renderMailboxItem; built here from the joined row, since
 * src/streaming reads this folder).
 */
function renderMlsMessage(row: NotificationRow) {
  const object = row.mlsObject!;
  return {
    seq: row.mls!.seq,
    id: object.uri,
    activity_id: object.activityUri,
    type: object.type,
    sender: row.sender.uri,
    group_id: object.groupId,
    epoch: object.epoch,
    content_type: object.contentType,
    created_at: row.mls!.createdAt.toISOString(),
    object: objectOf(object.activity),
  };
}

export function renderNotification(row: NotificationRow, publicUrl: string) {
  const common = {
    id: row.notification.id,
    group_key: `ungrouped-${row.notification.id}`,
    type: row.notification.type,
    created_at: row.notification.createdAt.toISOString(),
    account: renderAccount(row.sender, publicUrl),
    pleroma: { is_seen: row.notification.seen, is_muted: row.muted },
  };
  if (row.notification.type === "parley:mls_message") return { ...common, parley: { mls_message: renderMlsMessage(row) } };
  return {
    ...common,
    chat_message: renderMessage(
      { ref: row.ref!, message: row.message!, chat: row.chat!, attachment: row.attachment, card: row.card },
      publicUrl,
    ),
  };
}

export type NotificationJson = ReturnType<typeof renderNotification>;

/** One of the account's notifications (any type, muted or not); undefined when not theirs. */
export async function showNotification(db: Executor, ownerId: string, id: string, publicUrl: string) {
  const [row] = await notificationQuery(db)
    .where(withSubject(eq(notifications.id, id), eq(notifications.accountId, ownerId)))
    .limit(1);
  return row && renderNotification(row, publicUrl);
}

/** Some of the account's notifications by id, newest first (one query). */
export async function showNotifications(db: Executor, ownerId: string, ids: string[], publicUrl: string) {
  if (ids.length === 0) return [];
  const rows = await notificationQuery(db)
    .where(withSubject(inArray(notifications.id, ids), eq(notifications.accountId, ownerId)))
    .orderBy(desc(notifications.id));
  return rows.map((row) => renderNotification(row, publicUrl));
}

export interface NotificationListOptions {
  /** `types[]` / `include_types[]`; absent: Mastodon's default types. */
  includeTypes?: string[];
  excludeTypes?: string[];
  /** Only from this account. */
  accountId?: string;
  /** Also notifications from muted accounts (Pleroma's `with_muted`). */
  withMuted: boolean;
  maxId?: string;
  minId?: string;
  sinceId?: string;
  limit: number;
}

/**
 * The account's notifications, newest first, Mastodon-paginated by id. As Pleroma lists them:
 * never from an account they block; from a muted one only `with_muted`.
 */
export async function listNotifications(db: Executor, ownerId: string, options: NotificationListOptions, publicUrl: string) {
  const included = new Set(options.includeTypes?.length ? options.includeTypes : DEFAULT_TYPES);
  for (const type of options.excludeTypes ?? []) included.delete(type);
  const types = NOTIFICATION_TYPES.filter((type) => included.has(type));
  if (types.length === 0) return [];

  const conditions: SQL[] = [
    eq(notifications.accountId, ownerId),
    inArray(notifications.type, types),
    notExists(
      db
        .select()
        .from(blocks)
        .where(and(eq(blocks.accountId, ownerId), eq(blocks.targetAccountId, notifications.fromAccountId))),
    ),
  ];
  if (!options.withMuted) {
    conditions.push(
      notExists(
        db
          .select()
          .from(mutes)
          .where(and(eq(mutes.accountId, ownerId), eq(mutes.targetAccountId, notifications.fromAccountId))),
      ),
    );
  }
  if (options.accountId) conditions.push(eq(notifications.fromAccountId, options.accountId));
  if (options.maxId) conditions.push(lt(notifications.id, options.maxId));
  const after = options.minId ?? options.sinceId;
  if (after) conditions.push(gt(notifications.id, after));
  // min_id pages forward from the cursor: the nearest rows, then newest first.
  const ascending = options.minId !== undefined;
  const rows = await notificationQuery(db)
    .where(withSubject(...conditions))
    .orderBy(ascending ? asc(notifications.id) : desc(notifications.id))
    .limit(options.limit);
  if (ascending) rows.reverse();
  return rows.map((row) => renderNotification(row, publicUrl));
}
