import { index, integer, pgTable, text, timestamp, unique } from "drizzle-orm/pg-core";
import { accounts } from "./accounts.js";

/** Uploaded files, stored under DATA_DIR/media (uploads arrive with issue 4). */
export const media = pgTable(
  "media",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    /** Path relative to DATA_DIR/media. */
    path: text("path").notNull(),
    contentType: text("content_type").notNull(),
    size: integer("size").notNull(),
    description: text("description"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("media_account_idx").on(t.accountId)],
);

/** Local custom emoji (domain null) and emoji seen on remote messages. */
export const customEmojis = pgTable(
  "custom_emojis",
  {
    id: text("id").primaryKey(),
    shortcode: text("shortcode").notNull(),
    domain: text("domain"),
    url: text("url").notNull(),
    staticUrl: text("static_url").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [unique("custom_emojis_shortcode_domain_key").on(t.shortcode, t.domain).nullsNotDistinct()],
);
