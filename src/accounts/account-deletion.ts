import { and, eq, isNotNull, isNull, or } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import type { Database } from "../db/database.js";
import {
  accessTokens,
  accounts,
  blocks,
  chats,
  deliveries,
  idempotencyKeys,
  media,
  messages,
  mutes,
  notifications,
} from "../db/schema/index.js";
import { AS_CONTEXT } from "../federation/outgoing/activities.js";
import { type DeliverQueue, enqueueDeliveries, inboxOf } from "../federation/outgoing/deliveries.js";
import { notFoundError } from "../shared/errors.js";
import { newId } from "../shared/ids.js";
import { publishAccountGone } from "../streaming/events.js";

/**
 * Deletes a local account: its chats (both sides), messages, tokens, notifications, relations and
 * media go, in one transaction; the row stays as a tombstone (the actor answers 410, the name is
 * never given again) and a `Delete` of the actor is queued to every server it chatted with.
 * Returns the files of the deleted media (relative to DATA_DIR/media), for the caller to remove
 * once this has committed.
 */
export async function deleteLocalAccount(
  db: Database,
  queue: DeliverQueue | undefined,
  accountId: string,
): Promise<{ mediaPaths: string[] }> {
  let mediaPaths: string[] = [];
  const deliveryIds = await db.transaction(async (tx) => {
    const [account] = await tx
      .select()
      .from(accounts)
      .where(and(eq(accounts.id, accountId), isNull(accounts.domain), isNull(accounts.deletedAt)))
      .for("update");
    if (!account) throw notFoundError();

    const peers = await tx
      .selectDistinct({ id: accounts.id, inboxUrl: accounts.inboxUrl, sharedInboxUrl: accounts.sharedInboxUrl })
      .from(chats)
      .innerJoin(accounts, eq(accounts.id, chats.recipientId))
      .where(and(eq(chats.accountId, account.id), isNotNull(accounts.domain), isNull(accounts.goneAt)));

    const mine = (column: AnyPgColumn) => eq(column, account.id);
    await tx.delete(chats).where(or(mine(chats.accountId), mine(chats.recipientId)));
    await tx.delete(messages).where(or(mine(messages.authorId), mine(messages.recipientId)));
    await tx.delete(notifications).where(or(mine(notifications.accountId), mine(notifications.fromAccountId)));
    await tx.delete(blocks).where(or(mine(blocks.accountId), mine(blocks.targetAccountId)));
    await tx.delete(mutes).where(or(mine(mutes.accountId), mine(mutes.targetAccountId)));
    await tx.delete(accessTokens).where(mine(accessTokens.accountId));
    // Its streaming sockets close once this commits.
    await publishAccountGone(tx, account.id);
    await tx.delete(idempotencyKeys).where(mine(idempotencyKeys.accountId));
    mediaPaths = (await tx.delete(media).where(mine(media.accountId)).returning({ path: media.path })).map((row) => row.path);
    await tx
      .update(accounts)
      .set({ deletedAt: new Date(), displayName: "", note: "", avatarUrl: null, acceptsChatMessages: false, updatedAt: new Date() })
      .where(eq(accounts.id, account.id));

    // One POST per server: peers sharing an inbox get a single copy.
    const inboxes = new Map<string, { personal: boolean; recipientId: string }>();
    for (const peer of peers) {
      const inbox = inboxOf(peer);
      if (inbox && !inboxes.has(inbox.url)) inboxes.set(inbox.url, { personal: inbox.personal, recipientId: peer.id });
    }
    if (inboxes.size === 0) return [];
    const activity = {
      "@context": AS_CONTEXT,
      id: `${account.uri}#delete`,
      type: "Delete",
      actor: account.uri,
      object: account.uri,
      to: ["https://www.w3.org/ns/activitystreams#Public"],
    };
    const rows = await tx
      .insert(deliveries)
      .values(
        [...inboxes].map(([url, inbox]) => ({
          id: newId(),
          senderId: account.id,
          recipientId: inbox.personal ? inbox.recipientId : null,
          activityUri: activity.id,
          activity,
          inboxUrl: url,
          personalInbox: inbox.personal,
        })),
      )
      .returning({ id: deliveries.id, inboxUrl: deliveries.inboxUrl });
    return rows.map((row) => ({ id: row.id, type: "Delete", inboxUrl: row.inboxUrl, messageId: null }));
  });
  await enqueueDeliveries(queue, deliveryIds);
  return { mediaPaths };
}
