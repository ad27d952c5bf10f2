import { boolean, index, integer, pgTable, text, timestamp, unique } from "drizzle-orm/pg-core";
import { accounts } from "./accounts.js";

/** Uploaded files, stored under DATA_DIR/media as `<id>.<ext>` (src/media/). */
export const media = pgTable(
  "media",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    /** Path relative to DATA_DIR/media. */
    path: text("path").notNull(),
    /** The type found in the file's content (never the client's claim). */
    contentType: text("content_type").notNull(),
    size: integer("size").notNull(),
    description: text("description"),
    /** Pixel size of an image, when its header gives it. */
    width: integer("width"),
    height: integer("height"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  // (account, time): the upload quota sums an account's recent uploads.
  (t) => [index("media_account_created_idx").on(t.accountId, t.createdAt)],
);

/** Local custom emoji (domain null; files under DATA_DIR/media/emoji) and emoji seen on remote messages. */
export const customEmojis = pgTable(
  "custom_emojis",
  {
    id: text("id").primaryKey(),
    shortcode: text("shortcode").notNull(),
    domain: text("domain"),
    url: text("url").notNull(),
    staticUrl: text("static_url").notNull(),
    /** A local emoji's file, relative to DATA_DIR/media, and its checked type. */
    path: text("path"),
    contentType: text("content_type"),
    category: text("category"),
    visibleInPicker: boolean("visible_in_picker").notNull().default(true),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [unique("custom_emojis_shortcode_domain_key").on(t.shortcode, t.domain).nullsNotDistinct()],
);
