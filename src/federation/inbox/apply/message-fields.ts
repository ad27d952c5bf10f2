import { firstLinkOf } from "../../../chats/compose.js";
import type { RemoteMessageFields } from "../../../chats/remote-message.service.js";
import { newId } from "../../../shared/ids.js";
import type { Json } from "../../as-json.js";
import { emojisOf, firstAttachment, sanitizedContent } from "../chat-message-rules.js";

/** The message columns a ChatMessage object carries (the inbox checked it already). */
export function messageFields(object: Json): RemoteMessageFields {
  const attachment = firstAttachment(object);
  const content = sanitizedContent(object);
  return {
    content,
    linkUrl: firstLinkOf(content),
    emojis: emojisOf(object) ?? [],
    remoteAttachment: attachment
      ? {
          id: newId(),
          type: attachment.kind,
          url: attachment.url,
          remote_url: attachment.url,
          preview_url: attachment.url,
          text_url: null,
          description: attachment.description,
          blurhash: attachment.blurhash,
          meta: attachment.width && attachment.height ? { original: { width: attachment.width, height: attachment.height } } : {},
          pleroma: { mime_type: attachment.mediaType },
        }
      : null,
  };
}
