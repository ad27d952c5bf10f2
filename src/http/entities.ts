import { z } from "zod";

/** Response entities, for the OpenAPI document. Requests are validated by each route's own schemas. */

export const ErrorEntity = z
  .object({ error: z.string(), field: z.string().optional(), message: z.string().optional() })
  .meta({ id: "Error" });

export const EmojiEntity = z
  .object({ shortcode: z.string(), url: z.string(), static_url: z.string(), visible_in_picker: z.boolean() })
  .meta({ id: "CustomEmoji" });

export const AccountEntity = z
  .object({
    id: z.string(),
    username: z.string(),
    acct: z.string().meta({ description: "`name` for local accounts, `name@host[:port]` for remote ones" }),
    display_name: z.string(),
    locked: z.boolean(),
    bot: z.boolean(),
    created_at: z.string(),
    note: z.string(),
    url: z.string(),
    avatar: z.string(),
    avatar_static: z.string(),
    emojis: z.array(EmojiEntity),
    fields: z.array(z.unknown()),
    fqn: z.string().meta({ description: "`name@host`, also for local accounts" }),
    pleroma: z.object({ ap_id: z.string(), accepts_chat_messages: z.boolean().nullable(), is_local: z.boolean() }),
  })
  .meta({ id: "Account" });

/** The token's own account (verify_credentials, update_credentials): Mastodon's CredentialAccount. */
export const CredentialAccountEntity = AccountEntity.extend({
  source: z.object({
    note: z.string(),
    fields: z.array(z.unknown()),
    privacy: z.literal("public"),
    sensitive: z.boolean(),
    language: z.null(),
    pleroma: z.object({ actor_type: z.literal("Person"), discoverable: z.boolean() }),
  }),
  pleroma: AccountEntity.shape.pleroma.extend({
    unread_chat_count: z.number().int().meta({ description: "Unread messages of the chats the default chat list shows" }),
  }),
}).meta({ id: "CredentialAccount" });

export const RelationshipEntity = z
  .object({
    id: z.string(),
    following: z.boolean(),
    showing_reblogs: z.boolean(),
    notifying: z.boolean(),
    followed_by: z.boolean(),
    blocking: z.boolean(),
    blocked_by: z.boolean(),
    muting: z.boolean(),
    muting_notifications: z.boolean(),
    requested: z.boolean(),
    requested_by: z.boolean(),
    domain_blocking: z.boolean(),
    endorsed: z.boolean(),
    note: z.string(),
    subscribing: z.boolean().meta({ description: "Pleroma's; always false" }),
  })
  .meta({ id: "Relationship" });

export const AttachmentEntity = z
  .object({
    id: z.string(),
    type: z.enum(["image", "video", "audio", "unknown"]),
    url: z.string(),
    remote_url: z.string().nullable(),
    preview_url: z.string().nullable(),
    text_url: z.string().nullable(),
    description: z.string().nullable(),
    blurhash: z.string().nullable(),
    meta: z
      .record(z.string(), z.unknown())
      .meta({ description: "`original: {width, height, size, aspect}` for images whose size is known" }),
    pleroma: z.object({ mime_type: z.string() }),
  })
  .meta({ id: "MediaAttachment" });

export const ChatMessageEntity = z
  .object({
    id: z.string().meta({ description: "Per-participant reference id" }),
    chat_id: z.string(),
    account_id: z.string().meta({ description: "The author's account id" }),
    content: z.string().nullable(),
    created_at: z.string(),
    emojis: z.array(EmojiEntity),
    attachment: AttachmentEntity.nullable(),
    card: z.null(),
    unread: z.boolean(),
    idempotency_key: z.string().optional().meta({ description: "Only in the author's view" }),
    edited_at: z.string().optional(),
    parley: z
      .object({ delivery: z.enum(["pending", "delivered", "failed"]) })
      .optional()
      .meta({ description: "Only in the sender's view of a message to another server: where its delivery stands" }),
  })
  .meta({ id: "ChatMessage" });

export const ChatEntity = z
  .object({
    id: z.string(),
    account: AccountEntity,
    unread: z.number().int(),
    last_message: ChatMessageEntity.nullable(),
    updated_at: z.string(),
    pinned: z.boolean().meta({ description: "Pleroma 2.10: pinned by its owner (`POST …/chats/:id/pin`)" }),
  })
  .meta({ id: "Chat" });

export const errors = {
  400: { description: "Bad parameter (the field is named)", schema: ErrorEntity },
  401: { description: "Missing or bad token", schema: ErrorEntity },
  404: { description: "Not found, or not yours", schema: ErrorEntity },
  422: { description: "Refused", schema: ErrorEntity },
};
