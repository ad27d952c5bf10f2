import { eq, inArray, sql } from "drizzle-orm";
import type { Transaction } from "../db/database.js";
import { chats, messageRefs, type messages, mutes, notifications } from "../db/schema/index.js";
import { newId } from "../shared/ids.js";
import {
  EVENTS_CHANNEL,
  publishChatUpdate,
  publishMessageDeleted,
  publishNewMessage,
  publishNotification,
  type StreamEvent,
} from "../streaming/events.js";

/**
 * The chat timelines' writes that local sends and inbound remote messages share: a message placed in
 * each local participant's chat (bump, unread counter, notification, stream events), and the chats
 * refreshed when references go. Every change of a counter happens in the transaction of its cause.
 */

type MessageRow = typeof messages.$inferSelect;

/**
 * Gives one local participant their reference to a message: bumps (or creates) their chat, shows
 * it again if hidden, counts it unread when they are not the author, and notifies them.
 * Shared by local sends and (issue 3) the inbound worker.
 */
export async function addMessageToChat(
  tx: Transaction,
  message: MessageRow,
  ownerId: string,
  counterpartId: string,
): Promise<{ chatId: string; refId: string }> {
  const unread = message.authorId !== ownerId;
  const refId = newId();
  const [chat] = await tx
    .insert(chats)
    .values({ id: newId(), accountId: ownerId, recipientId: counterpartId, unread: unread ? 1 : 0, lastMessageRefId: refId })
    .onConflictDoUpdate({
      target: [chats.accountId, chats.recipientId],
      set: {
        updatedAt: sql`now()`,
        hidden: false,
        unread: sql`${chats.unread} + ${unread ? 1 : 0}`,
        // Concurrent sends may commit out of id order: the last message is the highest reference id.
        lastMessageRefId: sql`GREATEST(${chats.lastMessageRefId}, excluded.last_message_ref_id)`,
      },
    })
    .returning({ id: chats.id });
  await tx.insert(messageRefs).values({ id: refId, chatId: chat.id, messageId: message.id, unread });
  await publishNewMessage(tx, ownerId, chat.id, refId);
  if (unread) {
    const [notification] = await tx
      .insert(notifications)
      .values({
        id: newId(),
        accountId: ownerId,
        type: "pleroma:chat_mention",
        fromAccountId: message.authorId,
        messageRefId: refId,
        // A muted sender's message still arrives, but its notification is born seen.
        seen: sql`EXISTS (SELECT 1 FROM ${mutes} WHERE ${mutes.accountId} = ${ownerId} AND ${mutes.targetAccountId} = ${message.authorId})`,
      })
      .returning({ id: notifications.id, seen: notifications.seen });
    // Streamed unless muted (Pleroma does not stream a muted sender's notifications either).
    if (!notification.seen) await publishNotification(tx, ownerId, notification.id);
  }
  return { chatId: chat.id, refId };
}

/** One local participant's reference to a message, for `addMessagesToChats`. */
export interface ChatAddition {
  message: Pick<MessageRow, "id" | "authorId">;
  ownerId: string;
  counterpartId: string;
}

/**
 * `addMessageToChat` for many messages at once, in a handful of statements whatever their number
 * (the inbound worker applies accepted activities in batches). Each chat is upserted once — bumped,
 * shown again, its unread counter raised by the number of its new unread messages, its last message
 * the highest new reference id — and the chats are locked in (account id, counterpart id) order, the
 * order every chat write follows, so that concurrent batches and sends cannot deadlock. References
 * are given in the order of `additions` (their ids increase with it). Stream events and
 * notifications are as `addMessageToChat` makes them, in the same order.
 */
export async function addMessagesToChats(tx: Transaction, additions: ChatAddition[]): Promise<{ chatId: string; refId: string }[]> {
  if (additions.length === 0) return [];
  const key = (a: { ownerId: string; counterpartId: string }) => `${a.ownerId} ${a.counterpartId}`;
  const refs = additions.map((a) => ({ ...a, refId: newId(), unread: a.message.authorId !== a.ownerId }));
  const byChat = new Map<string, { ownerId: string; counterpartId: string; unread: number; lastRefId: string }>();
  for (const ref of refs) {
    const chat = byChat.get(key(ref));
    if (!chat)
      byChat.set(key(ref), { ownerId: ref.ownerId, counterpartId: ref.counterpartId, unread: ref.unread ? 1 : 0, lastRefId: ref.refId });
    else {
      chat.unread += ref.unread ? 1 : 0;
      if (ref.refId > chat.lastRefId) chat.lastRefId = ref.refId;
    }
  }
  const ordered = [...byChat.values()].sort((a, b) => compare(a.ownerId, b.ownerId) || compare(a.counterpartId, b.counterpartId));
  // Each statement takes its rows as one JSON parameter (building a many-row INSERT through the
  // query builder costs more CPU than PostgreSQL spends on it). The chats are inserted — and their
  // existing rows locked — in list order (ORDER BY the ordinality).
  const upserted = (await tx.execute(sql`
    INSERT INTO ${chats} (id, account_id, recipient_id, unread, last_message_ref_id)
    SELECT v->>'id', v->>'account_id', v->>'recipient_id', (v->>'unread')::int, v->>'last_message_ref_id'
    FROM jsonb_array_elements(${JSON.stringify(
      ordered.map((c) => ({
        id: newId(),
        account_id: c.ownerId,
        recipient_id: c.counterpartId,
        unread: c.unread,
        last_message_ref_id: c.lastRefId,
      })),
    )}::jsonb) WITH ORDINALITY AS e(v, n) ORDER BY e.n
    ON CONFLICT (account_id, recipient_id) DO UPDATE SET
      updated_at = now(),
      hidden = false,
      unread = ${chats}.unread + excluded.unread,
      -- Concurrent sends may commit out of id order: the last message is the highest reference id.
      last_message_ref_id = GREATEST(${chats}.last_message_ref_id, excluded.last_message_ref_id)
    RETURNING id, account_id, recipient_id`)) as unknown as { id: string; account_id: string; recipient_id: string }[];
  const chatIds = new Map(upserted.map((c) => [key({ ownerId: c.account_id, counterpartId: c.recipient_id }), c.id]));
  const placed = refs.map((ref) => ({ ...ref, chatId: chatIds.get(key(ref))! }));
  await tx.execute(sql`
    INSERT INTO ${messageRefs} (id, chat_id, message_id, unread)
    SELECT v->>'id', v->>'chat_id', v->>'message_id', (v->>'unread')::boolean
    FROM jsonb_array_elements(${JSON.stringify(placed.map((r) => ({ id: r.refId, chat_id: r.chatId, message_id: r.message.id, unread: r.unread })))}::jsonb) AS e(v)`);
  const unread = placed.filter((r) => r.unread);
  const notified = unread.length
    ? ((await tx.execute(sql`
        INSERT INTO ${notifications} (id, account_id, type, from_account_id, message_ref_id, seen)
        SELECT v->>'id', v->>'account_id', 'pleroma:chat_mention', v->>'from_account_id', v->>'message_ref_id',
          -- A muted sender's message still arrives, but its notification is born seen.
          EXISTS (SELECT 1 FROM ${mutes} m WHERE m.account_id = v->>'account_id' AND m.target_account_id = v->>'from_account_id')
        FROM jsonb_array_elements(${JSON.stringify(
          unread.map((r) => ({ id: newId(), account_id: r.ownerId, from_account_id: r.message.authorId, message_ref_id: r.refId })),
        )}::jsonb) WITH ORDINALITY AS e(v, n) ORDER BY e.n
        RETURNING id, message_ref_id, seen`)) as unknown as { id: string; message_ref_id: string; seen: boolean }[])
    : [];
  const notificationOf = new Map(notified.map((n) => [n.message_ref_id, n]));
  // The events addMessageToChat would publish, in its order, in one statement (PostgreSQL drops the
  // duplicates of a payload within a transaction, as it does for one chat bumped twice).
  const events: StreamEvent[] = [];
  for (const r of placed) {
    events.push({ type: "new_message", account: r.ownerId, chat: r.chatId, ref: r.refId });
    const notification = notificationOf.get(r.refId);
    // Streamed unless muted (Pleroma does not stream a muted sender's notifications either).
    if (notification && !notification.seen) events.push({ type: "notification", account: r.ownerId, notification: notification.id });
  }
  await tx.execute(
    sql`SELECT pg_notify(${EVENTS_CHANNEL}, e.payload) FROM unnest(${sql.param(events.map((e) => JSON.stringify(e)))}::text[]) WITH ORDINALITY AS e(payload, n) ORDER BY e.n`,
  );
  return placed.map((r) => ({ chatId: r.chatId, refId: r.refId }));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Counters and last messages of chats that lost references. The chats are locked in account-id
 * order, as a send locks them, so a removal never deadlocks with a concurrent send. Each owner is
 * told which reference went (Pleroma's `delete`), then that the chat changed.
 */
export async function refreshChatsAfterRemoval(tx: Transaction, removed: { id: string; chatId: string; unread: boolean }[]) {
  if (removed.length === 0) return;
  const unreadByChat = new Map<string, number>();
  for (const ref of removed) unreadByChat.set(ref.chatId, (unreadByChat.get(ref.chatId) ?? 0) + (ref.unread ? 1 : 0));
  const locked = await tx
    .select({ id: chats.id, accountId: chats.accountId })
    .from(chats)
    .where(inArray(chats.id, [...unreadByChat.keys()]))
    .orderBy(chats.accountId)
    .for("update");
  for (const { id, accountId } of locked) {
    for (const ref of removed) if (ref.chatId === id) await publishMessageDeleted(tx, accountId, id, ref.id);
    await publishChatUpdate(tx, accountId, id);
    await tx
      .update(chats)
      .set({
        unread: sql`GREATEST(${chats.unread} - ${unreadByChat.get(id) ?? 0}, 0)`,
        lastMessageRefId: sql`(SELECT max(r.id) FROM ${messageRefs} r WHERE r.chat_id = ${id})`,
      })
      .where(eq(chats.id, id));
  }
}
