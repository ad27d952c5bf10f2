import { sql } from "drizzle-orm";
import { boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import { accounts } from "./accounts.js";
import { media } from "./media.js";

/** One row per (local owner, counterpart): each side of a conversation has its own chat, as in Pleroma. */
export const chats = pgTable(
  "chats",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    recipientId: text("recipient_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    /** Kept in the same transaction as the references it counts; never COUNT(*) on read. */
    unread: integer("unread").notNull().default(0),
    lastMessageRefId: text("last_message_ref_id"),
    hidden: boolean("hidden").notNull().default(false),
    /** Pleroma 2.10's pin: pinned chats can be listed alone with `?pinned=true`. */
    pinned: boolean("pinned").notNull().default(false),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("chats_account_recipient_idx").on(t.accountId, t.recipientId),
    // Ascending: scanned backward it gives `updated_at DESC, id DESC` (NULLS FIRST, the default the
    // queries sort by); a `.desc()` index is `DESC NULLS LAST` and cannot serve that ORDER BY at all.
    index("chats_account_updated_idx").on(t.accountId, t.updatedAt, t.id),
    index("chats_recipient_idx").on(t.recipientId),
    // The unread total (verify_credentials, X-Unread-Messages-Count on every chat list page) sums
    // only the chats with something unread: usually a handful, not the account's thousands.
    index("chats_account_unread_idx").on(t.accountId).where(sql`${t.unread} > 0 AND NOT ${t.hidden}`),
  ],
);

/** A ChatMessage object, local or remote. Shared by both participants' references. */
export const messages = pgTable(
  "messages",
  {
    id: text("id").primaryKey(),
    /** ActivityPub object id. */
    uri: text("uri").notNull(),
    activityUri: text("activity_uri"),
    authorId: text("author_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    recipientId: text("recipient_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    /** Sanitized HTML; null for attachment-only messages and tombstones. */
    content: text("content"),
    /** The author's plain text, for local messages. */
    source: text("source"),
    /** [{shortcode, url, static_url}] */
    emojis: jsonb("emojis").notNull().default(sql`'[]'::jsonb`),
    mediaId: text("media_id").references(() => media.id, { onDelete: "set null", onUpdate: "cascade" }),
    /** Remote attachment as received (Mastodon MediaAttachment shape). */
    remoteAttachment: jsonb("remote_attachment"),
    idempotencyKey: text("idempotency_key"),
    /** The first http(s) link of the content: its preview card is looked up in `link_cards`. */
    linkUrl: text("link_url"),
    local: boolean("local").notNull(),
    publishedAt: timestamp("published_at", { withTimezone: true }).notNull(),
    editedAt: timestamp("edited_at", { withTimezone: true }),
    deletedAt: timestamp("deleted_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("messages_uri_idx").on(t.uri),
    uniqueIndex("messages_activity_uri_idx").on(t.activityUri),
    index("messages_author_idx").on(t.authorId),
    index("messages_recipient_idx").on(t.recipientId),
    // Housekeeping's orphan check and the FK's ON DELETE SET NULL look messages up by upload.
    index("messages_media_idx").on(t.mediaId).where(sql`${t.mediaId} IS NOT NULL`),
  ],
);

/** What one local account sees of a message. Its id is the id the API calls the ChatMessage id. */
export const messageRefs = pgTable(
  "message_refs",
  {
    id: text("id").primaryKey(),
    chatId: text("chat_id")
      .notNull()
      .references(() => chats.id, { onDelete: "cascade", onUpdate: "cascade" }),
    messageId: text("message_id")
      .notNull()
      .references(() => messages.id, { onDelete: "cascade", onUpdate: "cascade" }),
    unread: boolean("unread").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("message_refs_message_chat_idx").on(t.messageId, t.chatId),
    // Ascending for the same reason as chats_account_updated_idx: serves `ORDER BY id DESC` and `ASC`.
    index("message_refs_chat_id_idx").on(t.chatId, t.id),
    index("message_refs_unread_idx").on(t.chatId, t.id).where(sql`${t.unread}`),
  ],
);

/** Account-scoped Idempotency-Key records: a replay returns the first response. Kept one hour. */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    key: text("key").notNull(),
    status: integer("status").notNull(),
    body: jsonb("body").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.key] }), index("idempotency_keys_created_idx").on(t.createdAt)],
);

/**
 * OpenGraph preview of a URL, fetched once after the first message that links it. `card` is null
 * while pending and when the page had nothing to show (`status` says which).
 */
export const linkCards = pgTable("link_cards", {
  url: text("url").primaryKey(),
  status: text("status", { enum: ["pending", "ready", "none", "failed"] })
    .notNull()
    .default("pending"),
  card: jsonb("card"),
  fetchedAt: timestamp("fetched_at", { withTimezone: true }),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});
