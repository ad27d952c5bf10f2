import { boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import { accounts } from "./accounts.js";
import { messages } from "./chats.js";

/**
 * One row per (outgoing activity, remote inbox), written in the same transaction as the message.
 * The BullMQ job id is the row id; PostgreSQL, not Redis, is the source of truth.
 */
export const deliveries = pgTable(
  "deliveries",
  {
    id: text("id").primaryKey(),
    messageId: text("message_id").references(() => messages.id, { onDelete: "cascade", onUpdate: "cascade" }),
    /** The local account that signs the request. */
    senderId: text("sender_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    /** The remote actor addressed; a 404/410 from their personal inbox marks them gone. */
    recipientId: text("recipient_id").references(() => accounts.id, { onDelete: "set null", onUpdate: "cascade" }),
    activityUri: text("activity_uri").notNull(),
    activity: jsonb("activity").notNull(),
    inboxUrl: text("inbox_url").notNull(),
    /** false when inboxUrl is a shared inbox (its 404 says nothing about the actor). */
    personalInbox: boolean("personal_inbox").notNull().default(true),
    status: text("status", { enum: ["pending", "delivered", "failed"] })
      .notNull()
      .default("pending"),
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
    /** The local account whose personal inbox received it (null: shared inbox). */
    recipientId: text("recipient_id").references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    payload: jsonb("payload").notNull(),
    attempts: integer("attempts").notNull().default(0),
    status: text("status", { enum: ["pending", "applied", "failed"] })
      .notNull()
      .default("pending"),
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

/**
 * Per-host delivery slots, shared by every worker process: at most DELIVERY_MAX_PER_HOST rows per
 * host. A slot whose holder died frees itself when `expires_at` passes.
 */
export const hostSlots = pgTable(
  "host_slots",
  {
    host: text("host").notNull(),
    slot: integer("slot").notNull(),
    holder: text("holder").notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.host, t.slot] }), index("host_slots_expires_idx").on(t.expiresAt)],
);

/** Recent delivery failures of a remote host, and its pause. Rows expire (`expires_at`). */
export const hostStates = pgTable(
  "host_states",
  {
    host: text("host").primaryKey(),
    failures: integer("failures").notNull().default(0),
    windowStartedAt: timestamp("window_started_at", { withTimezone: true }).notNull().defaultNow(),
    pausedUntil: timestamp("paused_until", { withTimezone: true }),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
  },
  (t) => [index("host_states_expires_idx").on(t.expiresAt)],
);
