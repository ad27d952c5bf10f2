import { boolean, index, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import { accounts } from "./accounts.js";
import { messageRefs } from "./chats.js";
import { mlsObjects } from "./mls.js";

/**
 * A notification's subject is one of: a chat message reference (`pleroma:chat_mention`), or an
 * MLS object in the owner's mailbox (`parley:mls_message`, listed only when asked for).
 */
export const notifications = pgTable(
  "notifications",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    type: text("type", { enum: ["pleroma:chat_mention", "parley:mls_message"] }).notNull(),
    fromAccountId: text("from_account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    messageRefId: text("message_ref_id").references(() => messageRefs.id, { onDelete: "cascade", onUpdate: "cascade" }),
    mlsObjectId: text("mls_object_id").references(() => mlsObjects.id, { onDelete: "cascade", onUpdate: "cascade" }),
    seen: boolean("seen").notNull().default(false),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("notifications_account_id_idx").on(t.accountId, t.id),
    // Deleting a message cascades to its notification by this column: without an index, every
    // deletion scanned the whole table.
    index("notifications_message_ref_idx").on(t.messageRefId),
    // Deleting an MLS object (its sender's account going) cascades by this one, for the same reason.
    index("notifications_mls_object_idx").on(t.mlsObjectId),
    // A remote actor's Delete removes its notifications through this FK.
    index("notifications_from_account_idx").on(t.fromAccountId),
  ],
);
