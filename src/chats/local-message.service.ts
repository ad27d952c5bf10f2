import { and, eq, inArray, sql } from "drizzle-orm";
import type { AccountRow } from "../accounts/account.view.js";
import type { Database, Executor } from "../db/database.js";
import { type chats, customEmojis, media, messageRefs, messages } from "../db/schema/index.js";
import { type DeliverQueue, remoteRecipientHosts, withDeliveries } from "../federation/outgoing/deliveries.js";
import { type LinkCardJob, type LinkCardRequests, readyCard } from "../link-cards/link-cards.js";
import { DomainError, notFoundError } from "../shared/errors.js";
import { newId } from "../shared/ids.js";
import { publishMessageUpdate } from "../streaming/events.js";
import { type ChatMessageJson, findMessage, isBlockedEitherWay, renderMessage } from "./chat.view.js";
import { addMessagesToChats, refreshChatsAfterRemoval } from "./chat-timeline.js";
import { composeHtml, firstLinkOf, mentionKeysIn, shortcodesIn } from "./compose.js";
import { claimIdempotencyKey, storeIdempotentResponse } from "./idempotency.js";
import { findMentionTargets } from "./mentions.js";

/** A local account's message commands: post, edit, delete (each federated to a remote counterpart). */

type ChatRow = typeof chats.$inferSelect;

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
  if ([...source].length > limit) throw new DomainError("unprocessable", "content_too_long", { limit });
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
      if (!row || row.accountId !== sender.id) throw new DomainError("invalid", "forbidden", { field: input.mediaField ?? "media_id" });
      attachment = row;
    }
    if (composed.content === null && attachment === null) throw new DomainError("invalid", "no_content");
    // A remote recipient that cannot take it is refused: never a silent loss (docs/federation.md).
    const hosts = recipient.domain !== null ? remoteRecipientHosts(recipient) : [];
    if (recipient.acceptsChatMessages === false) throw new DomainError("unprocessable", "recipient_does_not_accept_chats");
    if (await isBlockedEitherWay(tx, sender.id, recipient.id, hosts)) throw new DomainError("unprocessable", "blocked");

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
    if (!row) throw notFoundError();
    if (row.message.authorId !== chat.accountId) throw new DomainError("forbidden", "not_author");
    const composed = await compose(tx, content, settings);
    if (composed.content === null && row.message.mediaId === null) throw new DomainError("invalid", "no_content");
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
    if (!row) throw notFoundError();
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
