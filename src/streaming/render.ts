import { findChat, findMessage, renderChat, renderMessage } from "../chats/chat.view.js";
import type { Executor } from "../db/database.js";
import { showNotification } from "../notifications/notification.view.js";
import type { RenderableEvent } from "./events.js";
import { mailboxEntry, renderMailboxItem } from "./mls-message.view.js";

/**
 * What one stream event shows its account: the frames' `event` names and payloads (a JSON string,
 * as Mastodon's streaming API has it, except `delete`'s bare id). Only a new message and a removed
 * message use the names clients act on; the rest are `parley:` events, which Pleroma-FE (an unknown
 * event is logged and dropped), Soapbox (a switch without a default) and megalodon (a `parser-error`
 * event, the socket kept) skip. An event whose subject is gone renders nothing.
 */

export interface RenderedFrame {
  event: string;
  payload: string;
}

export async function renderEvent(db: Executor, publicUrl: string, event: RenderableEvent): Promise<RenderedFrame[]> {
  switch (event.type) {
    case "new_message":
      return newMessageFrames(db, publicUrl, event);
    case "chat": {
      const row = await findChat(db, event.account, event.chat);
      // May show `last_message: null` (a chat emptied by a deletion): Parley's own event only.
      return row ? [{ event: "parley:chat_update", payload: JSON.stringify(renderChat(row, publicUrl)) }] : [];
    }
    case "message": {
      const row = await findChat(db, event.account, event.chat);
      const found = row && (await findMessage(db, row.chat, event.ref));
      return found ? [{ event: "parley:chat_message_update", payload: JSON.stringify(renderMessage(found, publicUrl)) }] : [];
    }
    case "message_deleted":
      return [
        // Pleroma's shape: the payload is the bare id (Pleroma-FE and megalodon read it so).
        { event: "delete", payload: event.ref },
        // Truth Social's, the one Soapbox removes from an open chat (it ignores `delete`).
        { event: "chat_message.deleted", payload: JSON.stringify({ chat_id: event.chat, deleted_message_id: event.ref }) },
      ];
    case "notification": {
      const notification = await showNotification(db, event.account, event.notification, publicUrl);
      // Muted since it was created: not streamed, as a muted sender's new ones are not.
      if (!notification || notification.pleroma.is_muted) return [];
      return [{ event: "notification", payload: JSON.stringify(notification) }];
    }
    case "mls_message": {
      // The JSON of one entry of GET /api/v1/parley/mls/messages; a Parley event, which chat clients skip.
      const row = await mailboxEntry(db, event.account, event.seq);
      return row?.notify ? [{ event: "parley:mls_message", payload: JSON.stringify(renderMailboxItem(row)) }] : [];
    }
  }
}

/**
 * `pleroma:chat_update` with the new message as `last_message` (as Pleroma renders it: the reference
 * the event names, not whatever came after it), never with `last_message: null`: clients append it
 * to the open chat. Nothing when the message went meanwhile (its `delete` follows).
 */
async function newMessageFrames(
  db: Executor,
  publicUrl: string,
  event: Extract<RenderableEvent, { type: "new_message" }>,
): Promise<RenderedFrame[]> {
  const row = await findChat(db, event.account, event.chat);
  if (!row) return [];
  const chat = renderChat(row, publicUrl);
  if (row.lastRef?.id !== event.ref) {
    const found = await findMessage(db, row.chat, event.ref);
    if (!found) return [];
    chat.last_message = renderMessage(found, publicUrl);
  }
  if (!chat.last_message) return [];
  return [{ event: "pleroma:chat_update", payload: JSON.stringify(chat) }];
}
