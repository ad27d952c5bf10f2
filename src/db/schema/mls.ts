import { bigint, boolean, index, integer, jsonb, numeric, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";
import { accounts } from "./accounts.js";

/**
 * End-to-end encrypted conversations (MLS over ActivityPub). Parley is the Delivery Service: it
 * stores and relays opaque MLS objects and never holds a key. Only what the MLS framing shows in
 * clear is indexed (group id, epoch, content type); the activity is kept as sent, content untouched.
 */

/** A local actor's published KeyPackages; listed in its `keyPackages` collection while live. */
export const mlsKeyPackages = pgTable(
  "mls_key_packages",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    uri: text("uri").notNull(),
    activityUri: text("activity_uri").notNull(),
    /** The KeyPackage object as served (id, attributedTo, content, ciphersuite, generator…). */
    object: jsonb("object").notNull(),
    ciphersuite: text("ciphersuite").notNull(),
    /** KeyPackageRef (hex): how a Welcome names the package it consumes. */
    ref: text("ref").notNull(),
    generatorId: text("generator_id"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    /** Delete or Remove by its owner. */
    removedAt: timestamp("removed_at", { withTimezone: true }),
    /** A Welcome delivered to its owner named it: it leaves the collection (single use). */
    consumedAt: timestamp("consumed_at", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("mls_key_packages_uri_idx").on(t.uri),
    index("mls_key_packages_account_idx").on(t.accountId, t.createdAt),
    index("mls_key_packages_ref_idx").on(t.ref),
  ],
);

/** One row per MLS object Parley relays (sent by a local actor or received from a remote one). */
export const mlsObjects = pgTable(
  "mls_objects",
  {
    id: text("id").primaryKey(),
    uri: text("uri").notNull(),
    activityUri: text("activity_uri").notNull(),
    senderId: text("sender_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    local: boolean("local").notNull(),
    type: text("type", { enum: ["PrivateMessage", "PublicMessage", "Welcome", "GroupInfo"] }).notNull(),
    wireFormat: integer("wire_format").notNull(),
    /** Hex of the MLS group id, when the framing shows it (not on a Welcome). */
    groupId: text("group_id"),
    epoch: numeric("epoch"),
    contentType: text("content_type", { enum: ["application", "proposal", "commit"] }),
    /** The AP type disagrees with the wire format (implementations differ): counted, not refused. */
    typeMismatch: boolean("type_mismatch").notNull().default(false),
    /** Actor ids addressed, as in the activity's `to`. */
    recipients: text("recipients").array().notNull(),
    /** The Create as sent or received. */
    activity: jsonb("activity").notNull(),
    /** Decoded size of `content`, in bytes. */
    size: integer("size").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("mls_objects_uri_idx").on(t.uri),
    uniqueIndex("mls_objects_activity_uri_idx").on(t.activityUri),
    index("mls_objects_group_epoch_idx").on(t.groupId, t.epoch),
    index("mls_objects_sender_idx").on(t.senderId, t.createdAt),
  ],
);

/** Each local recipient's `messages` collection, in the order Parley stored them (per-owner seq). */
export const mlsMailbox = pgTable(
  "mls_mailbox",
  {
    ownerId: text("owner_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    seq: bigint("seq", { mode: "number" }).notNull(),
    objectId: text("object_id")
      .notNull()
      .references(() => mlsObjects.id, { onDelete: "cascade", onUpdate: "cascade" }),
    /** false when the sender is blocked by the owner: stored (the group state needs it), not announced. */
    notify: boolean("notify").notNull().default(true),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.ownerId, t.seq] }), uniqueIndex("mls_mailbox_owner_object_idx").on(t.ownerId, t.objectId)],
);

/** The last sequence number given in each owner's mailbox (one row per owner, locked to take the next). */
export const mlsSequences = pgTable("mls_sequences", {
  ownerId: text("owner_id")
    .primaryKey()
    .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
  lastSeq: bigint("last_seq", { mode: "number" }).notNull().default(0),
});

/** A conversation of any size, as far as Parley sees it: the group id and who sent or was addressed. */
export const mlsGroups = pgTable("mls_groups", {
  groupId: text("group_id").primaryKey(),
  lastEpoch: numeric("last_epoch"),
  objects: integer("objects").notNull().default(0),
  firstSeenAt: timestamp("first_seen_at", { withTimezone: true }).notNull().defaultNow(),
  lastObjectAt: timestamp("last_object_at", { withTimezone: true }).notNull().defaultNow(),
});

export const mlsGroupMembers = pgTable(
  "mls_group_members",
  {
    groupId: text("group_id")
      .notNull()
      .references(() => mlsGroups.groupId, { onDelete: "cascade" }),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    lastSeenAt: timestamp("last_seen_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.groupId, t.accountId] }), index("mls_group_members_account_idx").on(t.accountId)],
);
