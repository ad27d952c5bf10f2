import { and, eq, inArray, isNotNull, isNull, sql } from "drizzle-orm";
import type { AccountRow } from "../accounts/account.view.js";
import type { Executor, Transaction } from "../db/database.js";
import { accounts, chats, messageRefs, messages } from "../db/schema/index.js";
import { idAt, newId } from "../shared/ids.js";
import { publishChatUpdate, publishMessageUpdate } from "../streaming/events.js";
import { addMessagesToChats, addMessageToChat, refreshChatsAfterRemoval } from "./chat-timeline.js";

/**
 * Writes of messages that arrive from other servers (the inbound worker), each inside the caller's
 * transaction. Counters follow in the same transaction, as everywhere in the chat domain.
 */

type MessageRow = typeof messages.$inferSelect;
/** What insertRemoteMessages returns of each message it wrote. */
export type InsertedMessage = Pick<MessageRow, "id" | "uri" | "activityUri" | "authorId" | "recipientId" | "linkUrl">;

export interface RemoteMessageFields {
  /** Sanitized HTML; null for an attachment-only message. */
  content: string | null;
  emojis: unknown[];
  /** Mastodon MediaAttachment JSON pointing at the remote URL. */
  remoteAttachment: Record<string, unknown> | null;
  /** The first link of `content` (its preview card is fetched after commit). */
  linkUrl: string | null;
}

export interface NewRemoteMessage extends RemoteMessageFields {
  uri: string;
  activityUri: string;
  author: AccountRow;
  recipient: AccountRow;
  publishedAt: Date;
}

/** A message by its ActivityPub id, with its author's actor id. */
export async function findMessageByUri(db: Executor, uri: string) {
  const [row] = await db
    .select({ message: messages, authorUri: accounts.uri })
    .from(messages)
    .innerJoin(accounts, eq(accounts.id, messages.authorId))
    .where(eq(messages.uri, uri))
    .limit(1);
  return row;
}

/** The local participants of a message, in account-id order (the lock order of every chat write). */
async function localParticipants(tx: Transaction, message: MessageRow): Promise<{ ownerId: string; counterpartId: string }[]> {
  const ids = [...new Set([message.authorId, message.recipientId])];
  const local = await tx
    .select({ id: accounts.id })
    .from(accounts)
    .where(and(inArray(accounts.id, ids), isNull(accounts.domain)));
  return local
    .map(({ id }) => ({ ownerId: id, counterpartId: id === message.authorId ? message.recipientId : message.authorId }))
    .sort((a, b) => (a.ownerId < b.ownerId ? -1 : a.ownerId > b.ownerId ? 1 : 0));
}

/**
 * Inserts a remote message and gives each local participant their reference (chat bumped, unread
 * counted, notification). The same object id again inserts nothing and returns null.
 */
export async function insertRemoteMessage(tx: Transaction, input: NewRemoteMessage): Promise<MessageRow | null> {
  const [message] = await tx
    .insert(messages)
    .values({
      id: newId(),
      uri: input.uri,
      activityUri: input.activityUri,
      authorId: input.author.id,
      recipientId: input.recipient.id,
      content: input.content,
      emojis: input.emojis,
      remoteAttachment: input.remoteAttachment,
      linkUrl: input.linkUrl,
      local: false,
      publishedAt: input.publishedAt,
    })
    .onConflictDoNothing()
    .returning();
  if (!message) return null;
  for (const { ownerId, counterpartId } of await localParticipants(tx, message)) {
    await addMessageToChat(tx, message, ownerId, counterpartId);
  }
  return message;
}

/**
 * `insertRemoteMessage` for many messages of remote authors to local recipients (the inbound
 * worker's batches), in one statement per table whatever their number. The result is in the order
 * of `inputs`: the message, or null when its object id (or activity id) exists already — also when
 * it comes twice in `inputs`: only the first is kept. Every author must be remote and every
 * recipient local (the one local participant): the caller checks it.
 */
export async function insertRemoteMessages(tx: Transaction, inputs: NewRemoteMessage[]): Promise<(InsertedMessage | null)[]> {
  if (inputs.length === 0) return [];
  for (const input of inputs) {
    if (input.author.domain === null || input.recipient.domain !== null)
      throw new Error("insertRemoteMessages: a remote author to a local recipient only");
  }
  // One JSON parameter rather than ten per row: building a many-row INSERT through the query
  // builder cost more CPU than PostgreSQL spends running it.
  const rows = inputs.map((input) => ({
    id: newId(),
    uri: input.uri,
    activity_uri: input.activityUri,
    author_id: input.author.id,
    recipient_id: input.recipient.id,
    content: input.content,
    emojis: input.emojis,
    remote_attachment: input.remoteAttachment,
    link_url: input.linkUrl,
    published_at: input.publishedAt.toISOString(),
  }));
  const inserted = (await tx.execute(sql`
    INSERT INTO ${messages} (id, uri, activity_uri, author_id, recipient_id, content, emojis, remote_attachment, link_url, local, published_at)
    SELECT v->>'id', v->>'uri', v->>'activity_uri', v->>'author_id', v->>'recipient_id', v->>'content', v->'emojis',
      NULLIF(v->'remote_attachment', 'null'::jsonb), v->>'link_url', false, (v->>'published_at')::timestamptz
    FROM jsonb_array_elements(${JSON.stringify(rows)}::jsonb) WITH ORDINALITY AS e(v, n) ORDER BY e.n
    ON CONFLICT DO NOTHING
    RETURNING id, uri, activity_uri, author_id, recipient_id, link_url`)) as unknown as {
    id: string;
    uri: string;
    activity_uri: string;
    author_id: string;
    recipient_id: string;
    link_url: string | null;
  }[];
  // RETURNING has no guaranteed order: matched back by object and activity id, each row once.
  const byUri = new Map(inserted.map((m) => [m.uri, m]));
  const taken = new Set<string>();
  const result = inputs.map((input): InsertedMessage | null => {
    const m = byUri.get(input.uri);
    if (!m || taken.has(m.id) || m.activity_uri !== input.activityUri) return null;
    taken.add(m.id);
    return { id: m.id, uri: m.uri, activityUri: m.activity_uri, authorId: m.author_id, recipientId: m.recipient_id, linkUrl: m.link_url };
  });
  await addMessagesToChats(
    tx,
    result.flatMap((message) => (message ? [{ message, ownerId: message.recipientId, counterpartId: message.authorId }] : [])),
  );
  return result;
}

/**
 * The author deleted their message: every local participant loses their reference (counters and
 * last messages follow), the message is marked deleted. Its content is kept, unseen, so that an
 * `Undo{Delete}` (Lemmy) can restore it.
 */
export async function tombstoneRemoteMessage(tx: Transaction, message: MessageRow): Promise<boolean> {
  const [marked] = await tx
    .update(messages)
    .set({ deletedAt: sql`now()` })
    .where(and(eq(messages.id, message.id), isNull(messages.deletedAt)))
    .returning({ id: messages.id });
  if (!marked) return false;
  const removed = await tx
    .delete(messageRefs)
    .where(eq(messageRefs.messageId, message.id))
    .returning({ id: messageRefs.id, chatId: messageRefs.chatId, unread: messageRefs.unread });
  await refreshChatsAfterRemoval(tx, removed);
  return true;
}

/**
 * `Undo{Delete}`: the message comes back for every local participant, in its old place (the
 * reference id carries the message's arrival time), read, without a notification or a bump.
 */
export async function restoreRemoteMessage(tx: Transaction, message: MessageRow): Promise<boolean> {
  const [restored] = await tx
    .update(messages)
    .set({ deletedAt: null })
    .where(and(eq(messages.id, message.id), isNotNull(messages.deletedAt)))
    .returning();
  if (!restored) return false;
  for (const { ownerId, counterpartId } of await localParticipants(tx, restored)) {
    const [chat] = await tx
      .insert(chats)
      .values({ id: newId(), accountId: ownerId, recipientId: counterpartId })
      .onConflictDoUpdate({ target: [chats.accountId, chats.recipientId], set: { accountId: sql`excluded.account_id` } })
      .returning({ id: chats.id });
    await tx
      .insert(messageRefs)
      .values({ id: idAt(restored.createdAt), chatId: chat.id, messageId: restored.id, unread: false })
      .onConflictDoNothing();
    await tx
      .update(chats)
      .set({ lastMessageRefId: sql`(SELECT max(r.id) FROM ${messageRefs} r WHERE r.chat_id = ${chat.id})` })
      .where(eq(chats.id, chat.id));
    await publishChatUpdate(tx, ownerId, chat.id);
  }
  return true;
}

/**
 * An edit by the author (Lemmy's `Update`): content and emoji replaced, `edited_at` set. An edit
 * older than the one applied already is ignored (activities may arrive out of order). Neither the
 * chat nor the unread counter moves.
 */
export async function editRemoteMessage(
  tx: Transaction,
  message: MessageRow,
  fields: Partial<RemoteMessageFields>,
  editedAt: Date,
): Promise<boolean> {
  const [edited] = await tx
    .update(messages)
    .set({ ...fields, editedAt })
    .where(and(eq(messages.id, message.id), sql`(${messages.editedAt} IS NULL OR ${messages.editedAt} < ${editedAt.toISOString()})`))
    .returning({ id: messages.id });
  if (edited) await publishMessageUpdate(tx, message.id);
  return edited !== undefined;
}

/** `Delete` of a remote actor: their account goes, and with it (cascade) their chats and messages. */
export async function deleteRemoteActor(tx: Transaction, actorUri: string): Promise<boolean> {
  const removed = await tx
    .delete(accounts)
    .where(and(eq(accounts.uri, actorUri), isNotNull(accounts.domain)))
    .returning({ id: accounts.id });
  return removed.length > 0;
}
