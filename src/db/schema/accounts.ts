import { sql } from "drizzle-orm";
import { boolean, index, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";

/** Local accounts (domain null) and cached remote actors share one table, as in Mastodon. */
export const accounts = pgTable(
  "accounts",
  {
    id: text("id").primaryKey(),
    username: text("username").notNull(),
    /** null for local accounts; `host[:port]` for remote ones. */
    domain: text("domain"),
    displayName: text("display_name").notNull().default(""),
    note: text("note").notNull().default(""),
    /** ActivityPub actor id. */
    uri: text("uri").notNull(),
    url: text("url"),
    inboxUrl: text("inbox_url"),
    sharedInboxUrl: text("shared_inbox_url"),
    avatarUrl: text("avatar_url"),
    /** null = unknown (remote actor without `capabilities`). */
    acceptsChatMessages: boolean("accepts_chat_messages"),
    /** nodeinfo `software.name` of a remote actor's server. */
    software: text("software"),
    goneAt: timestamp("gone_at", { withTimezone: true }),
    /**
     * A deleted local account stays as a tombstone: its name is never reused (remote servers
     * cache its actor and keys) and its keys sign the federated Delete of the actor.
     */
    deletedAt: timestamp("deleted_at", { withTimezone: true }),
    fetchedAt: timestamp("fetched_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("accounts_uri_idx").on(t.uri),
    uniqueIndex("accounts_username_domain_idx").on(sql`lower(${t.username})`, sql`coalesce(${t.domain}, '')`),
  ],
);

/** Signing keys of local accounts, as JWK. RSA-2048 for HTTP signatures, Ed25519 for proofs. */
export const accountKeys = pgTable(
  "account_keys",
  {
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    algorithm: text("algorithm", { enum: ["RSASSA-PKCS1-v1_5", "Ed25519"] }).notNull(),
    privateKey: jsonb("private_key").notNull(),
    publicKey: jsonb("public_key").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.algorithm] })],
);

/** Bearer tokens, stored as SHA-256 hex: a database leak does not leak usable tokens. */
export const accessTokens = pgTable(
  "access_tokens",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
    tokenHash: text("token_hash").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("access_tokens_hash_idx").on(t.tokenHash), index("access_tokens_account_idx").on(t.accountId)],
);

const relation = (name: string) =>
  pgTable(
    name,
    {
      accountId: text("account_id")
        .notNull()
        .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
      targetAccountId: text("target_account_id")
        .notNull()
        .references(() => accounts.id, { onDelete: "cascade", onUpdate: "cascade" }),
      createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    },
    (t) => [primaryKey({ columns: [t.accountId, t.targetAccountId] }), index(`${name}_target_idx`).on(t.targetAccountId)],
  );

export const blocks = relation("blocks");
export const mutes = relation("mutes");

export const domainBlocks = pgTable("domain_blocks", {
  id: text("id").primaryKey(),
  domain: text("domain").notNull().unique(),
  severity: text("severity").notNull().default("suspend"),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});
