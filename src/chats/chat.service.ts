import { and, eq, inArray, lte, sql } from "drizzle-orm";
import type { AccountRow } from "../accounts/account.view.js";
import type { Database, Executor, Transaction } from "../db/database.js";
import { chats, customEmojis, media, messageRefs, messages, mutes, notifications } from "../db/schema/index.js";
import { type DeliverQueue, remoteRecipientHosts, withDeliveries } from "../federation/outgoing/deliveries.js";
import { ApiError, notFound } from "../http/errors.js";
import { type LinkCardJob, type LinkCardRequests, readyCard } from "../link-cards/link-cards.js";
import { newId } from "../shared/ids.js";
import {
  EVENTS_CHANNEL,
  publishChatUpdate,
  publishMessageDeleted,
  publishMessageUpdate,
  publishNewMessage,
  publishNotification,
  type StreamEvent,
} from "../streaming/events.js";
import { type ChatMessageJson, findMessage, isBlockedEitherWay, renderMessage } from "./chat.view.js";
import { composeHtml, firstLinkOf, mentionKeysIn, shortcodesIn } from "./compose.js";
import { claimIdempotencyKey, storeIdempotentResponse } from "./idempotency.js";
import { findMentionTargets } from "./mentions.js";

/** Writes of the chat domain. Every change of a counter happens in the transaction of its cause. */

type ChatRow = typeof chats.$inferSelect;
type MessageRow = typeof messages.$inferSelect;

/** Pleroma's get-or-create: opening a chat does not bump it, but it shows a hidden chat again. */
export async function openChat(db: Executor, ownerId: string, recipientId: string): Promise<ChatRow> {
  const [chat] = await db
    .insert(chats)
    .values({ id: newId(), accountId: ownerId, recipientId })
    .onConflictDoUpdate({ target: [chats.accountId, chats.recipientId], set: { hidden: false } })
    .returning();
  return chat;
}

export async function hideChat(db: Executor, chat: ChatRow): Promise<void> {
  await db.update(chats).set({ hidden: true }).where(eq(chats.id, chat.id));
  await publishChatUpdate(db, chat.accountId, chat.id);
}

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

export interface PostMessageInput {
  content?: string;
  mediaId?: string;
  /** The request field `mediaId` came from, named by its refusal (`media_id` unless told). */
  mediaField?: string;
  idempotencyKey?: string;
}

interface Composed {
  content: string | null;
  source: string | null;
  emojis: { shortcode: string; url: string; static_url: string; visible_in_picker: boolean }[];
  /** The first link: its preview card is fetched after commit. */
  linkUrl: string | null;
}

async function compose(
  db: Executor,
  text: string | undefined,
  settings: { publicUrl: string; chatMessageLimit: number },
): Promise<Composed> {
  const source = text ?? "";
  const limit = settings.chatMessageLimit;
  if ([...source].length > limit) throw new ApiError(422, "content_too_long", { limit });
  if (source.trim() === "") return { content: null, source: null, emojis: [], linkUrl: null };
  const codes = shortcodesIn(source);
  const emojiRows = codes.length
    ? await db
        .select()
        .from(customEmojis)
        .where(and(inArray(customEmojis.shortcode, codes), sql`${customEmojis.domain} IS NULL`))
    : [];
  // Known accounts only, looked up once (none when the text mentions nobody).
  const mentions = await findMentionTargets(db, mentionKeysIn(source), settings.publicUrl);
  const content = composeHtml(source, { publicUrl: settings.publicUrl, mentions });
  return {
    content,
    source,
    emojis: emojiRows.map((e) => ({ shortcode: e.shortcode, url: e.url, static_url: e.staticUrl, visible_in_picker: false })),
    linkUrl: firstLinkOf(content),
  };
}

export interface PostResult {
  status: number;
  body: ChatMessageJson;
  replayed: boolean;
  /** The `messages` row written (absent on an idempotent replay): the outbox renders its activity. */
  messageId?: string;
}

/**
 * Sends a message from a chat's owner to its counterpart. A local counterpart receives it in the
 * same transaction: there is no moment where the sender sees a message the recipient cannot. A
 * remote one gets a delivery row in that transaction too; `queue` (the `deliver` queue) runs it
 * after commit (without it, the reconciler does, a minute later). The preview card of its link is
 * requested after commit too (`cards`): it never delays or fails the send.
 */
export async function postMessage(
  db: Database,
  settings: { publicUrl: string; chatMessageLimit: number },
  sender: AccountRow,
  recipient: AccountRow,
  input: PostMessageInput,
  queue?: DeliverQueue,
  cards?: LinkCardRequests,
): Promise<PostResult> {
  let card: LinkCardJob | undefined;
  const result = await withDeliveries(db, settings.publicUrl, queue, async (tx, federate) => {
    if (input.idempotencyKey) {
      const previous = await claimIdempotencyKey(tx, sender.id, input.idempotencyKey);
      if (previous) return { status: previous.status, body: previous.body as ChatMessageJson, replayed: true };
    }
    // After the key: a replay answers the first response whatever its body (as Pleroma's plug does).
    const composed = await compose(tx, input.content, settings);
    let attachment: typeof media.$inferSelect | null = null;
    if (input.mediaId) {
      // Locked until commit: housekeeping cannot remove an upload that is being attached.
      const [row] = await tx.select().from(media).where(eq(media.id, input.mediaId)).limit(1).for("key share");
      if (!row || row.accountId !== sender.id) throw new ApiError(400, "forbidden", { field: input.mediaField ?? "media_id" });
      attachment = row;
    }
    if (composed.content === null && attachment === null) throw new ApiError(400, "no_content");
    // A remote recipient that cannot take it is refused: never a silent loss (docs/federation.md).
    const hosts = recipient.domain !== null ? remoteRecipientHosts(recipient) : [];
    if (recipient.acceptsChatMessages === false) throw new ApiError(422, "recipient_does_not_accept_chats");
    if (await isBlockedEitherWay(tx, sender.id, recipient.id, hosts)) throw new ApiError(422, "blocked");

    const id = newId();
    const [message] = await tx
      .insert(messages)
      .values({
        id,
        uri: `${settings.publicUrl}/objects/${id}`,
        activityUri: `${settings.publicUrl}/activities/${id}`,
        authorId: sender.id,
        recipientId: recipient.id,
        content: composed.content,
        source: composed.source,
        emojis: composed.emojis,
        mediaId: attachment?.id ?? null,
        idempotencyKey: input.idempotencyKey ?? null,
        linkUrl: composed.linkUrl,
        local: true,
        // The transaction's clock, as the chat bump uses: created_at and updated_at agree.
        publishedAt: sql`now()`,
      })
      .returning();
    // Each local participant's chat (a remote account has none here, as in Pleroma), locked in
    // account-id order whoever sends: two people writing to each other at once cannot deadlock.
    const owners = recipient.domain === null && recipient.id !== sender.id ? [sender, recipient] : [sender];
    const added = await addMessagesToChats(
      tx,
      owners.map((owner) => ({ message, ownerId: owner.id, counterpartId: owner.id === sender.id ? recipient.id : sender.id })),
    );
    const mine = added[0];
    const delivered = await federate("Create", message.id);

    // The sender's view, from the rows in hand: a new message to a remote account is pending.
    const ref = { id: mine.refId, chatId: mine.chatId, messageId: message.id, unread: false, createdAt: message.createdAt };
    const body = renderMessage(
      {
        ref,
        message,
        chat: { accountId: sender.id },
        attachment,
        delivery: delivered ? "pending" : null,
        // A link seen before has its card already (one primary-key read; none without a link).
        card: await readyCard(tx, message.linkUrl),
      },
      settings.publicUrl,
    );
    if (input.idempotencyKey) await storeIdempotentResponse(tx, sender.id, input.idempotencyKey, { status: 200, body });
    if (message.linkUrl && !body.card) card = { url: message.linkUrl, messageId: message.id };
    return { status: 200, body, replayed: false, messageId: message.id };
  });
  if (card) cards?.request([card]);
  return result;
}

/** Edits the author's own message in place; `edited_at` records it; a remote recipient gets an `Update`. */
export async function editMessage(
  db: Database,
  settings: { publicUrl: string; chatMessageLimit: number },
  chat: ChatRow,
  refId: string,
  content: string,
  queue?: DeliverQueue,
  cards?: LinkCardRequests,
) {
  let card: LinkCardJob | undefined;
  const result = await withDeliveries(db, settings.publicUrl, queue, async (tx, federate) => {
    const row = await findMessage(tx, chat, refId);
    if (!row) throw notFound();
    if (row.message.authorId !== chat.accountId) throw new ApiError(403, "not_author");
    const composed = await compose(tx, content, settings);
    if (composed.content === null && row.message.mediaId === null) throw new ApiError(400, "no_content");
    await tx
      .update(messages)
      .set({ content: composed.content, source: composed.source, emojis: composed.emojis, linkUrl: composed.linkUrl, editedAt: new Date() })
      .where(eq(messages.id, row.message.id));
    await publishMessageUpdate(tx, row.message.id);
    await federate("Update", row.message.id);
    const updated = await findMessage(tx, chat, refId);
    const body = renderMessage(updated!, settings.publicUrl);
    if (composed.linkUrl && !body.card) card = { url: composed.linkUrl, messageId: row.message.id };
    return body;
  });
  if (card) cards?.request([card]);
  return result;
}

/**
 * Own message: deleted for every local participant (the object becomes a tombstone) and a remote
 * recipient gets a `Delete`. Another's message: only this account's reference goes. Either way
 * counters and last messages follow. Returns the message as it was before deletion, as Pleroma does.
 */
export async function deleteMessage(
  db: Database,
  publicUrl: string,
  chat: ChatRow,
  refId: string,
  options: { forEveryone?: boolean; queue?: DeliverQueue } = {},
) {
  return withDeliveries(db, publicUrl, options.queue, async (tx, federate) => {
    const row = await findMessage(tx, chat, refId);
    if (!row) throw notFound();
    const before = renderMessage(row, publicUrl);
    // A moderator's delete removes the message for everyone, as its author's would.
    const own = options.forEveryone === true || row.message.authorId === chat.accountId;
    const removed = await tx
      .delete(messageRefs)
      .where(own ? eq(messageRefs.messageId, row.message.id) : eq(messageRefs.id, refId))
      .returning({ id: messageRefs.id, chatId: messageRefs.chatId, unread: messageRefs.unread });
    if (own) {
      await tx
        .update(messages)
        .set({ deletedAt: new Date(), content: null, source: null, emojis: [], mediaId: null, remoteAttachment: null })
        .where(eq(messages.id, row.message.id));
      await federate("Delete", row.message.id);
    }
    await refreshChatsAfterRemoval(tx, removed);
    return before;
  });
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

/** Marks messages up to `lastReadId` (all when absent) read; the counter drops by what changed. */
export async function markChatRead(db: Database, chat: ChatRow, lastReadId?: string): Promise<void> {
  await db.transaction(async (tx) => {
    const conditions = [eq(messageRefs.chatId, chat.id), eq(messageRefs.unread, true)];
    if (lastReadId) conditions.push(lte(messageRefs.id, lastReadId));
    const changed = await tx
      .update(messageRefs)
      .set({ unread: false })
      .where(and(...conditions))
      .returning({ id: messageRefs.id });
    if (changed.length > 0) {
      await tx
        .update(chats)
        .set({ unread: sql`GREATEST(${chats.unread} - ${changed.length}, 0)` })
        .where(eq(chats.id, chat.id));
      await publishChatUpdate(tx, chat.accountId, chat.id);
    }
  });
}

export async function markMessageRead(db: Database, publicUrl: string, chat: ChatRow, refId: string) {
  return db.transaction(async (tx) => {
    const changed = await tx
      .update(messageRefs)
      .set({ unread: false })
      .where(and(eq(messageRefs.id, refId), eq(messageRefs.chatId, chat.id), eq(messageRefs.unread, true)))
      .returning({ id: messageRefs.id });
    if (changed.length > 0) {
      await tx
        .update(chats)
        .set({ unread: sql`GREATEST(${chats.unread} - 1, 0)` })
        .where(eq(chats.id, chat.id));
      await publishChatUpdate(tx, chat.accountId, chat.id);
    }
    const row = await findMessage(tx, chat, refId);
    if (!row) throw notFound();
    return renderMessage(row, publicUrl);
  });
}
