import { editRemoteMessage, type RemoteMessageFields } from "../../../chats/remote-message.service.js";
import { idOf, type Json, parsePublished } from "../../as-json.js";
import type { ApplyInput } from "./context.js";
import { messageFields } from "./message-fields.js";
import { ownMessage } from "./own-message.js";

/** `Update{ChatMessage}` by its author (Lemmy's edits): the message edited, unless a newer edit is in. */
export async function applyUpdate({ tx, row, payload, links }: ApplyInput): Promise<string> {
  const object = payload.object as Json;
  const message = await ownMessage(tx, row, idOf(object));
  if (!message) return "unknown message";
  const editedAt = parsePublished(object.updated) ?? parsePublished(payload.published) ?? new Date();
  const fields = messageFields(object);
  // An edit without attachment keeps the one the message has (Lemmy never sends any).
  const changes: Partial<RemoteMessageFields> = fields.remoteAttachment
    ? fields
    : { content: fields.content, emojis: fields.emojis, linkUrl: fields.linkUrl };
  if (!(await editRemoteMessage(tx, message, changes, editedAt))) return "stale edit";
  if (fields.linkUrl) links.push({ url: fields.linkUrl, messageId: message.id });
  return "edited";
}
