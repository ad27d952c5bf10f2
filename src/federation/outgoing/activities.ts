import type { accounts, media, messages } from "../../db/schema/index.js";
import { mediaUrl } from "../../media/media.view.js";
import { typeOfExtension } from "../../media/types.js";
import { newId } from "../../shared/ids.js";

/**
 * The JSON Parley sends for chat messages (docs/federation.md, "What Parley sends"): what Pleroma sends,
 * minus its internal leftovers (`conversation: null`, empty `cc`).
 */

type Account = Pick<typeof accounts.$inferSelect, "uri" | "username" | "domain">;
type Message = typeof messages.$inferSelect;
type Media = typeof media.$inferSelect;
interface Emoji {
  shortcode: string;
  url: string;
}

export const AS_CONTEXT = "https://www.w3.org/ns/activitystreams";

export function activityContext(publicUrl: string) {
  return [AS_CONTEXT, `${publicUrl}/schemas/litepub-0.1.jsonld`];
}

export interface MessageParts {
  message: Message;
  author: Account;
  recipient: Account;
  /** The uploaded file, when the message carries one. */
  attachment: Media | null;
}

function absolute(url: string, publicUrl: string): string {
  return new URL(url, `${publicUrl}/`).href;
}

/** The type of one of our files by its extension (names we give carry the checked type). */
function mediaTypeOfUrl(url: string): string | undefined {
  const ext = /\.([0-9a-z]+)$/i.exec(new URL(url).pathname)?.[1];
  return ext ? typeOfExtension(ext)?.mime : undefined;
}

/** The `ChatMessage` object itself, without `@context`. */
export function chatMessageObject({ message, author, recipient, attachment }: MessageParts, publicUrl: string) {
  const mention = {
    type: "Mention",
    href: recipient.uri,
    name: `@${recipient.username}${recipient.domain ? `@${recipient.domain}` : ""}`,
  };
  const emojis = (message.emojis as Emoji[]).map((emoji) => {
    const url = absolute(emoji.url, publicUrl);
    const mediaType = mediaTypeOfUrl(url);
    return {
      type: "Emoji",
      id: url,
      name: `:${emoji.shortcode}:`,
      updated: "1970-01-01T00:00:00Z",
      icon: { type: "Image", url, ...(mediaType ? { mediaType } : {}) },
    };
  });
  return {
    id: message.uri,
    type: "ChatMessage",
    // Pleroma keeps a non-standard `actor` on the object, and checks it.
    actor: author.uri,
    attributedTo: author.uri,
    to: [recipient.uri],
    // Attachment-only messages have no content, as Pleroma sends them.
    ...(message.content !== null ? { content: message.content } : {}),
    published: message.publishedAt.toISOString(),
    tag: [mention, ...emojis],
    ...(attachment
      ? {
          // One object, not a list, with Pleroma's `url` list of Links; `name` is the description.
          attachment: {
            type: "Document",
            mediaType: attachment.contentType,
            name: attachment.description ?? null,
            url: [
              {
                type: "Link",
                mediaType: attachment.contentType,
                href: mediaUrl(attachment.path, publicUrl),
                ...(attachment.width && attachment.height ? { width: attachment.width, height: attachment.height } : {}),
              },
            ],
          },
        }
      : {}),
    ...(message.editedAt ? { updated: message.editedAt.toISOString() } : {}),
  };
}

/** `Create{ChatMessage}`: its id is the message's `activity_uri` (`/activities/<id>`). */
export function createActivity(parts: MessageParts, publicUrl: string) {
  if (!parts.message.activityUri) throw new Error(`message ${parts.message.id} has no activity URI`);
  return {
    "@context": activityContext(publicUrl),
    id: parts.message.activityUri,
    type: "Create",
    actor: parts.author.uri,
    to: [parts.recipient.uri],
    object: chatMessageObject(parts, publicUrl),
  };
}

/** `Update{ChatMessage}` of an edited message (Lemmy applies it; Pleroma ignores it). */
export function updateActivity(parts: MessageParts, publicUrl: string) {
  return {
    "@context": activityContext(publicUrl),
    id: `${publicUrl}/activities/${newId()}`,
    type: "Update",
    actor: parts.author.uri,
    to: [parts.recipient.uri],
    object: chatMessageObject(parts, publicUrl),
  };
}

/** `Delete` of an own message; as Pleroma's CommonAPI.delete, the object is the object id. */
export function deleteActivity(parts: Pick<MessageParts, "message" | "author" | "recipient">, publicUrl: string) {
  return {
    "@context": activityContext(publicUrl),
    id: `${publicUrl}/activities/${newId()}`,
    type: "Delete",
    actor: parts.author.uri,
    to: [parts.recipient.uri],
    object: parts.message.uri,
  };
}

export type OutgoingActivity = ReturnType<typeof createActivity> | ReturnType<typeof updateActivity> | ReturnType<typeof deleteActivity>;
