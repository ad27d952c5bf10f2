import { and, eq, lte, sql } from "drizzle-orm";
import type { Database, Executor } from "../db/database.js";
import { chats, messageRefs } from "../db/schema/index.js";
import { notFoundError } from "../shared/errors.js";
import { newId } from "../shared/ids.js";
import { publishChatUpdate } from "../streaming/events.js";
import { findMessage, renderMessage } from "./chat.view.js";

/**
 * A chat's own commands: open, hide, mark read. Messages are written by local-message.service (a
 * local account's) and chat-timeline (shared with inbound remote messages).
 */

type ChatRow = typeof chats.$inferSelect;

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
    if (!row) throw notFoundError();
    return renderMessage(row, publicUrl);
  });
}
