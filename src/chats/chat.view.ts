import { aliasedTable, and, asc, desc, eq, gt, gte, inArray, lt, lte, notExists, type SQL, sql } from "drizzle-orm";
import { type AccountRow, renderAccount } from "../accounts/account.view.js";
import { builtOnce, type Executor, isPool } from "../db/database.js";
import { accounts, blocks, chats, media, messageRefs, messages, mutes } from "../db/schema/index.js";
import { domainBlockedSql } from "../federation/domain-blocks.js";
import { boundedStoredAttachment, renderableEmojis } from "../federation/inbox/remote-content-bounds.js";
import { deliveryStatusSql } from "../federation/outgoing/deliveries.js";
import type { PreviewCard } from "../link-cards/card-parser.js";
import { linkCardSql } from "../link-cards/link-cards.js";
import { renderAttachment } from "../media/media.view.js";
import { sanitizeRemoteHtml } from "./compose.js";

/** Reads that render API JSON. Each list is one query, whatever its length (no N+1). */

type ChatRow = typeof chats.$inferSelect;
type RefRow = typeof messageRefs.$inferSelect;
type MessageRow = typeof messages.$inferSelect;
type MediaRow = typeof media.$inferSelect;
/** What rendering reads of each row (the chat lists select only these). */
type RenderedRef = Pick<RefRow, "id" | "chatId" | "unread">;
type RenderedMessage = Pick<
  MessageRow,
  "authorId" | "content" | "publishedAt" | "emojis" | "remoteAttachment" | "idempotencyKey" | "editedAt"
>;
type RenderedChat = Pick<ChatRow, "id" | "accountId" | "unread" | "updatedAt" | "pinned">;
type DeliveryStatus = "pending" | "delivered" | "failed" | null;

export function renderMessage(
  {
    ref,
    message,
    chat,
    attachment,
    delivery,
    card,
  }: {
    ref: RenderedRef;
    message: RenderedMessage;
    chat: Pick<ChatRow, "accountId">;
    attachment: MediaRow | null;
    delivery?: DeliveryStatus;
    /** The ready preview card of the message's first link (linkCardSql). */
    card?: PreviewCard | null;
  },
  publicUrl: string,
) {
  const ownMessage = message.authorId === chat.accountId;
  return {
    id: ref.id,
    chat_id: ref.chatId,
    account_id: message.authorId,
    content: contentWithoutImages(message.content),
    created_at: message.publishedAt.toISOString(),
    emojis: renderableEmojis(message.emojis as unknown[]),
    attachment: attachment ? renderAttachment(attachment, publicUrl) : boundedStoredAttachment(message.remoteAttachment ?? null),
    card: card ?? null,
    unread: ref.unread,
    // Only the author sees their own key (Pleroma leaks it to the recipient for 2 minutes).
    ...(ownMessage && message.idempotencyKey ? { idempotency_key: message.idempotencyKey } : {}),
    ...(message.editedAt ? { edited_at: message.editedAt.toISOString() } : {}),
    // The sender's view of a message to another server (`parley.delivery`: docs/federation.md).
    ...(ownMessage && delivery ? { parley: { delivery } } : {}),
  };
}

export type ChatMessageJson = ReturnType<typeof renderMessage>;

/**
 * Remote content stored before emoji images were stripped still holds `<img>`: sanitized again as
 * it would be today. Nothing else has one (local content escapes `<`), so the test is the cost.
 */
function contentWithoutImages(content: string | null): string | null {
  return content !== null && /<img\b/i.test(content) ? sanitizeRemoteHtml(content) : content;
}

export function renderChat(
  row: {
    chat: RenderedChat;
    recipient: AccountRow;
    lastRef: RenderedRef | null;
    lastMessage: RenderedMessage | null;
    lastMedia: MediaRow | null;
    lastDelivery?: DeliveryStatus;
    lastCard?: PreviewCard | null;
  },
  publicUrl: string,
) {
  return {
    id: row.chat.id,
    account: renderAccount(row.recipient, publicUrl),
    unread: row.chat.unread,
    last_message:
      row.lastRef && row.lastMessage
        ? renderMessage(
            {
              ref: row.lastRef,
              message: row.lastMessage,
              chat: row.chat,
              attachment: row.lastMedia,
              delivery: row.lastDelivery,
              card: row.lastCard,
            },
            publicUrl,
          )
        : null,
    updated_at: row.chat.updatedAt.toISOString(),
    pinned: row.chat.pinned,
  };
}

export type ChatJson = ReturnType<typeof renderChat>;

const lastMessages = aliasedTable(messages, "last_message");
const lastMedia = aliasedTable(media, "last_media");

/**
 * The last reference is fetched per chat through its primary key (a LATERAL subquery with LIMIT is
 * never flattened): a plain join lets the planner hash-join a scan of every reference once the
 * chats are many (the v1 list), which costs in proportion to all messages, not to the chats shown.
 */
function lastRefOf(db: Executor) {
  return db.select().from(messageRefs).where(eq(messageRefs.id, chats.lastMessageRefId)).limit(1).as("last_ref");
}

/** One chat with all its columns (callers go on to use the row), joined like the lists. */
function chatQuery(db: Executor) {
  const lastRefs = lastRefOf(db);
  return db
    .select({
      chat: chats,
      recipient: accounts,
      lastRef: {
        id: lastRefs.id,
        chatId: lastRefs.chatId,
        messageId: lastRefs.messageId,
        unread: lastRefs.unread,
        createdAt: lastRefs.createdAt,
      },
      lastMessage: lastMessages,
      lastMedia,
      lastDelivery: deliveryStatusSql(lastMessages),
      lastCard: linkCardSql(lastMessages),
    })
    .from(chats)
    .innerJoin(accounts, eq(accounts.id, chats.recipientId))
    .leftJoinLateral(lastRefs, sql`true`)
    .leftJoin(lastMessages, eq(lastMessages.id, lastRefs.messageId))
    .leftJoin(lastMedia, eq(lastMedia.id, lastMessages.mediaId));
}

/**
 * The lists select only the columns renderChat reads: v1 returns every chat at once (10k rows), and
 * decoding each column of each row is a large share of its time.
 */
function chatListQuery(db: Executor) {
  const lastRefs = lastRefOf(db);
  return db
    .select({
      chat: { id: chats.id, accountId: chats.accountId, unread: chats.unread, updatedAt: chats.updatedAt, pinned: chats.pinned },
      recipient: accounts,
      lastRef: { id: lastRefs.id, chatId: lastRefs.chatId, unread: lastRefs.unread },
      lastMessage: {
        authorId: lastMessages.authorId,
        content: lastMessages.content,
        publishedAt: lastMessages.publishedAt,
        emojis: lastMessages.emojis,
        remoteAttachment: lastMessages.remoteAttachment,
        idempotencyKey: lastMessages.idempotencyKey,
        editedAt: lastMessages.editedAt,
      },
      lastMedia,
      lastDelivery: deliveryStatusSql(lastMessages),
      lastCard: linkCardSql(lastMessages),
      /** The v2 pagination cursor (see SORT_KEY_CURSOR), exact to the microsecond (a JS Date keeps ms). */
      cursor: sql<string>`(extract(epoch from ${chats.updatedAt}) * 1000000)::bigint::text || '_' || ${chats.id}`,
    })
    .from(chats)
    .innerJoin(accounts, eq(accounts.id, chats.recipientId))
    .leftJoinLateral(lastRefs, sql`true`)
    .leftJoin(lastMessages, eq(lastMessages.id, lastRefs.messageId))
    .leftJoin(lastMedia, eq(lastMedia.id, lastMessages.mediaId));
}

/** Any account's chat, for moderators. */
export async function findAnyChat(db: Executor, chatId: string) {
  const [row] = await chatQuery(db).where(eq(chats.id, chatId)).limit(1);
  return row;
}

const findChatQuery = builtOnce((db) =>
  chatQuery(db)
    .where(and(eq(chats.id, sql.placeholder("chatId")), eq(chats.accountId, sql.placeholder("ownerId"))))
    .limit(1)
    .prepare("find_chat"),
);

/** An account's chat with what renders it (every chat endpoint starts here). */
export async function findChat(db: Executor, ownerId: string, chatId: string) {
  const [row] = isPool(db)
    ? await findChatQuery(db).execute({ chatId, ownerId })
    : await chatQuery(db)
        .where(and(eq(chats.id, chatId), eq(chats.accountId, ownerId)))
        .limit(1);
  return row;
}

export async function showChat(db: Executor, ownerId: string, chatId: string, publicUrl: string) {
  const row = await findChat(db, ownerId, chatId);
  return row && renderChat(row, publicUrl);
}

export interface ChatListOptions {
  withMuted: boolean;
  /** Pleroma 2.10's `?pinned=`: only pinned chats (true) or only the others (false). */
  pinned?: boolean;
  /** Keyset cursors: a cursor from a Link header, or a chat id (compared by that chat's current sort key). */
  maxId?: string;
  minId?: string;
  sinceId?: string;
  limit?: number;
}

/** `<updated_at in µs since the epoch>_<chat id>`: the sort key itself, as the v2 Link header carries it. */
const SORT_KEY_CURSOR = /^(\d{1,17})_([0-9a-hjkmnp-tv-z]{26})$/;

/**
 * The `(updated_at, id)` a cursor stands for. A cursor from a Link header carries the key itself, so
 * it stays put when its chat is bumped meanwhile; a bare chat id (clients that build cursors from the
 * last chat) means that chat's key now. Anything else matches nothing.
 */
function cursorKey(ownerId: string, cursor: string): SQL {
  const key = SORT_KEY_CURSOR.exec(cursor);
  if (key) return sql`(timestamptz 'epoch' + ${key[1]}::bigint * interval '1 microsecond', ${key[2]}::text)`;
  return sql`(SELECT c.updated_at, c.id FROM chats c WHERE c.id = ${cursor} AND c.account_id = ${ownerId})`;
}

/**
 * Chats of an account, most recently updated first. Blocked counterparts are always hidden, muted
 * ones unless asked. v2 pages with a cursor that is the sort key itself, so a bumped chat is never
 * skipped or repeated (Pleroma pages by creation id: pitfall P4).
 */
export async function listChatPage(db: Executor, ownerId: string, options: ChatListOptions, publicUrl: string) {
  const conditions: SQL[] = [
    eq(chats.accountId, ownerId),
    eq(chats.hidden, false),
    notExists(
      db
        .select()
        .from(blocks)
        .where(and(eq(blocks.accountId, ownerId), eq(blocks.targetAccountId, chats.recipientId))),
    ),
  ];
  if (!options.withMuted) {
    conditions.push(
      notExists(
        db
          .select()
          .from(mutes)
          .where(and(eq(mutes.accountId, ownerId), eq(mutes.targetAccountId, chats.recipientId))),
      ),
    );
  }
  if (options.pinned !== undefined) conditions.push(eq(chats.pinned, options.pinned));
  if (options.maxId) conditions.push(sql`(${chats.updatedAt}, ${chats.id}) < ${cursorKey(ownerId, options.maxId)}`);
  const after = options.minId ?? options.sinceId;
  if (after) conditions.push(sql`(${chats.updatedAt}, ${chats.id}) > ${cursorKey(ownerId, after)}`);
  // min_id pages forward from the cursor: take the nearest rows, then return them newest first.
  const ascending = options.minId !== undefined;
  const order = ascending ? [asc(chats.updatedAt), asc(chats.id)] : [desc(chats.updatedAt), desc(chats.id)];
  // A page is chosen first, from chats_account_updated_idx alone, and only its chats are joined
  // (the page's LIMIT keeps the subquery from being flattened into the joins).
  const where =
    options.limit === undefined
      ? and(...conditions)
      : inArray(
          chats.id,
          db
            .select({ id: chats.id })
            .from(chats)
            .where(and(...conditions))
            .orderBy(...order)
            .limit(options.limit),
        );
  const query = chatListQuery(db)
    .where(where)
    .orderBy(...order);
  const rows = await query;
  if (ascending) rows.reverse();
  return { chats: rows.map((row) => renderChat(row, publicUrl)), cursors: rows.map((row) => row.cursor) };
}

/** Chats of an account (see listChatPage), without the cursors. */
export async function listChats(db: Executor, ownerId: string, options: ChatListOptions, publicUrl: string) {
  return (await listChatPage(db, ownerId, options, publicUrl)).chats;
}

/**
 * Every chat of an account for a moderator (Pleroma's admin list): hidden ones and those with
 * blocked or muted counterparts included, most recently updated first, unpaginated.
 */
export async function listEveryChatOf(db: Executor, ownerId: string, publicUrl: string) {
  const rows = await chatListQuery(db).where(eq(chats.accountId, ownerId)).orderBy(desc(chats.updatedAt), desc(chats.id));
  return rows.map((row) => renderChat(row, publicUrl));
}

export interface MessagePage {
  maxId?: string;
  minId?: string;
  sinceId?: string;
  limit: number;
}

/** Messages of a chat, newest first (reference ids sort by arrival). */
export async function listMessages(db: Executor, chat: ChatRow, page: MessagePage, publicUrl: string) {
  // `chat_id = $1` would make chat_id a constant to the planner, and `ORDER BY id` could then be
  // served by walking message_refs_pkey backward and filtering on chat_id, which reads every newer
  // reference of every other chat (the planner guesses the chat's rows are spread evenly; they are
  // not when the chat is old). Written as a closed range and ordered by (chat_id, id), the order can
  // only come from message_refs_chat_id_idx: the page costs the same at any table size.
  const conditions: SQL[] = [gte(messageRefs.chatId, chat.id), lte(messageRefs.chatId, chat.id)];
  if (page.maxId) conditions.push(lt(messageRefs.id, page.maxId));
  const after = page.minId ?? page.sinceId;
  if (after) conditions.push(gt(messageRefs.id, after));
  const ascending = page.minId !== undefined;
  const rows = await db
    .select({ ref: messageRefs, message: messages, attachment: media, delivery: deliveryStatusSql(messages), card: linkCardSql(messages) })
    .from(messageRefs)
    .innerJoin(messages, eq(messages.id, messageRefs.messageId))
    .leftJoin(media, eq(media.id, messages.mediaId))
    .where(and(...conditions))
    .orderBy(...(ascending ? [asc(messageRefs.chatId), asc(messageRefs.id)] : [desc(messageRefs.chatId), desc(messageRefs.id)]))
    .limit(page.limit);
  if (ascending) rows.reverse();
  return rows.map((row) => renderMessage({ ...row, chat }, publicUrl));
}

export async function findMessage(db: Executor, chat: ChatRow, refId: string) {
  const [row] = await db
    .select({ ref: messageRefs, message: messages, attachment: media, delivery: deliveryStatusSql(messages), card: linkCardSql(messages) })
    .from(messageRefs)
    .innerJoin(messages, eq(messages.id, messageRefs.messageId))
    .leftJoin(media, eq(media.id, messages.mediaId))
    .where(and(eq(messageRefs.id, refId), eq(messageRefs.chatId, chat.id)))
    .limit(1);
  return row && { ...row, chat };
}

export async function isBlocked(db: Executor, accountId: string, targetId: string): Promise<boolean> {
  const rows = await db
    .select({ accountId: blocks.accountId })
    .from(blocks)
    .where(and(eq(blocks.accountId, accountId), eq(blocks.targetAccountId, targetId)))
    .limit(1);
  return rows.length > 0;
}

/**
 * The block checks of a send, in one round trip: either account blocks the other, or the admin
 * blocks one of `hosts` (a remote recipient's).
 */
export async function isBlockedEitherWay(db: Executor, a: string, b: string, hosts: string[]): Promise<boolean> {
  const [row] = await db.execute<{ blocked: boolean }>(sql`SELECT EXISTS (
      SELECT 1 FROM ${blocks}
      WHERE (account_id = ${a} AND target_account_id = ${b}) OR (account_id = ${b} AND target_account_id = ${a})
    ) ${hosts.length > 0 ? sql`OR ${domainBlockedSql(...hosts)}` : sql``} AS blocked`);
  return row?.blocked === true;
}
