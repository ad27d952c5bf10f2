import { index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import { messages } from "./chats.js";

/**
 * One row per (outgoing activity, remote inbox), written in the same transaction as the message.
 * The BullMQ job id is the row id; PostgreSQL, not Redis, is the source of truth.
 */
export const deliveries = pgTable(
  "deliveries",
  {
    id: text("id").primaryKey(),
    messageId: text("message_id").references(() => messages.id, { onDelete: "cascade" }),
    activityUri: text("activity_uri").notNull(),
    activity: jsonb("activity").notNull(),
    inboxUrl: text("inbox_url").notNull(),
    status: text("status", { enum: ["pending", "delivered", "failed"] }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    lastError: text("last_error"),
    nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("deliveries_activity_inbox_idx").on(t.activityUri, t.inboxUrl),
    index("deliveries_pending_idx").on(t.status, t.nextAttemptAt),
    index("deliveries_message_idx").on(t.messageId),
  ],
);

/** Accepted inbound activities, durably written before the inbox answers 202. */
export const inboxActivities = pgTable(
  "inbox_activities",
  {
    id: text("id").primaryKey(),
    activityUri: text("activity_uri").notNull(),
    actorUri: text("actor_uri").notNull(),
    payload: jsonb("payload").notNull(),
    status: text("status", { enum: ["pending", "applied", "failed"] }).notNull().default("pending"),
    error: text("error"),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
    processedAt: timestamp("processed_at", { withTimezone: true }),
  },
  (t) => [uniqueIndex("inbox_activities_uri_idx").on(t.activityUri), index("inbox_activities_status_idx").on(t.status)],
);

/** Fedify's KvStore (key caches, circuit-breaker state); entries may expire. */
export const fedifyKv = pgTable(
  "fedify_kv",
  {
    key: text("key").primaryKey(),
    value: jsonb("value").notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true }),
  },
  (t) => [index("fedify_kv_expires_idx").on(t.expiresAt)],
);
