import { eq } from "drizzle-orm";
import type { Executor } from "../db/database.js";
import { chats } from "../db/schema/index.js";

/**
 * Pleroma 2.10's chat pins: a mark of the owner's, listed alone with `?pinned=true`. Pinning does not
 * bump the chat (`updated_at` is the last message's time, the lists' order and the v2 cursor), and it
 * is not streamed: Pleroma streams nothing for it, and a `pleroma:chat_update` reads as a new message
 * to Soapbox.
 */
export async function setChatPinned(db: Executor, chat: Pick<typeof chats.$inferSelect, "id">, pinned: boolean): Promise<void> {
  await db.update(chats).set({ pinned }).where(eq(chats.id, chat.id));
}
