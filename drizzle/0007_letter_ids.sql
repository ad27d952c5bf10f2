-- Ids move to the letter form (src/shared/ids.ts, docs/decisions/0001-client-orderable-ids.md): a
-- legacy id, a lower-case ULID whose first character is '0'..'7', becomes the same ULID with that
-- character written 'a'..'h'. The order is kept, so cursors stay valid once canonicalised
-- (src/http/ids.ts does it for every id a client sends back).
--
-- Set-based: the foreign keys are dropped, each table is rewritten by one UPDATE of its id and every
-- column naming an id (chats.last_message_ref_id, which has no foreign key, included), and the
-- foreign keys are added back exactly as 0006 made them (validated by one scan each). Renaming
-- through their ON UPDATE CASCADE instead rewrites each referencing row once per renamed parent, by
-- one trigger query per parent row: 15 times slower (14 min against 55 s for 300k messages and 600k
-- references on a shared 2-core machine; some referencing columns have no index). Only legacy ids
-- change, so a second run changes nothing.
--
-- Not renamed: the ids of deliveries and inbox_activities (internal; they are the ids of their
-- queued jobs, which would no longer find their rows); message URIs (federated identities: GET
-- /objects/:id looks the full URI up); media file names (media.path, from which URLs are made);
-- the responses kept for Idempotency-Key replays (one hour; the legacy ids they show are accepted).
CREATE FUNCTION "parley_letter_id"(id text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE WHEN id ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$'
    THEN translate(left(id, 1), '01234567', 'abcdefgh') || substr(id, 2) ELSE id END
$$;--> statement-breakpoint
ALTER TABLE "access_tokens" DROP CONSTRAINT "access_tokens_account_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "account_keys" DROP CONSTRAINT "account_keys_account_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "blocks" DROP CONSTRAINT "blocks_account_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "blocks" DROP CONSTRAINT "blocks_target_account_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "mutes" DROP CONSTRAINT "mutes_account_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "mutes" DROP CONSTRAINT "mutes_target_account_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "chats" DROP CONSTRAINT "chats_account_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "chats" DROP CONSTRAINT "chats_recipient_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "idempotency_keys" DROP CONSTRAINT "idempotency_keys_account_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "message_refs" DROP CONSTRAINT "message_refs_chat_id_chats_id_fk";--> statement-breakpoint
ALTER TABLE "message_refs" DROP CONSTRAINT "message_refs_message_id_messages_id_fk";--> statement-breakpoint
ALTER TABLE "messages" DROP CONSTRAINT "messages_author_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "messages" DROP CONSTRAINT "messages_recipient_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "messages" DROP CONSTRAINT "messages_media_id_media_id_fk";--> statement-breakpoint
ALTER TABLE "deliveries" DROP CONSTRAINT "deliveries_message_id_messages_id_fk";--> statement-breakpoint
ALTER TABLE "deliveries" DROP CONSTRAINT "deliveries_sender_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "deliveries" DROP CONSTRAINT "deliveries_recipient_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "inbox_activities" DROP CONSTRAINT "inbox_activities_recipient_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "media" DROP CONSTRAINT "media_account_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "notifications" DROP CONSTRAINT "notifications_account_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "notifications" DROP CONSTRAINT "notifications_from_account_id_accounts_id_fk";--> statement-breakpoint
ALTER TABLE "notifications" DROP CONSTRAINT "notifications_message_ref_id_message_refs_id_fk";--> statement-breakpoint
UPDATE "accounts" SET "id" = "parley_letter_id"("id")
  WHERE "id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
UPDATE "access_tokens" SET
    "id" = "parley_letter_id"("id"),
    "account_id" = "parley_letter_id"("account_id")
  WHERE "id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "account_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
UPDATE "account_keys" SET "account_id" = "parley_letter_id"("account_id")
  WHERE "account_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
UPDATE "blocks" SET
    "account_id" = "parley_letter_id"("account_id"),
    "target_account_id" = "parley_letter_id"("target_account_id")
  WHERE "account_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "target_account_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
UPDATE "mutes" SET
    "account_id" = "parley_letter_id"("account_id"),
    "target_account_id" = "parley_letter_id"("target_account_id")
  WHERE "account_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "target_account_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
UPDATE "idempotency_keys" SET "account_id" = "parley_letter_id"("account_id")
  WHERE "account_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
UPDATE "domain_blocks" SET "id" = "parley_letter_id"("id")
  WHERE "id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
UPDATE "custom_emojis" SET "id" = "parley_letter_id"("id")
  WHERE "id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
UPDATE "media" SET
    "id" = "parley_letter_id"("id"),
    "account_id" = "parley_letter_id"("account_id")
  WHERE "id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "account_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
UPDATE "messages" SET
    "id" = "parley_letter_id"("id"),
    "author_id" = "parley_letter_id"("author_id"),
    "recipient_id" = "parley_letter_id"("recipient_id"),
    "media_id" = "parley_letter_id"("media_id")
  WHERE "id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "author_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "recipient_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "media_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
UPDATE "chats" SET
    "id" = "parley_letter_id"("id"),
    "account_id" = "parley_letter_id"("account_id"),
    "recipient_id" = "parley_letter_id"("recipient_id"),
    "last_message_ref_id" = "parley_letter_id"("last_message_ref_id")
  WHERE "id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "account_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "recipient_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "last_message_ref_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
UPDATE "message_refs" SET
    "id" = "parley_letter_id"("id"),
    "chat_id" = "parley_letter_id"("chat_id"),
    "message_id" = "parley_letter_id"("message_id")
  WHERE "id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "chat_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "message_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
UPDATE "notifications" SET
    "id" = "parley_letter_id"("id"),
    "account_id" = "parley_letter_id"("account_id"),
    "from_account_id" = "parley_letter_id"("from_account_id"),
    "message_ref_id" = "parley_letter_id"("message_ref_id")
  WHERE "id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "account_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "from_account_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "message_ref_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
UPDATE "deliveries" SET
    "message_id" = "parley_letter_id"("message_id"),
    "sender_id" = "parley_letter_id"("sender_id"),
    "recipient_id" = "parley_letter_id"("recipient_id")
  WHERE "message_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "sender_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$' OR "recipient_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
UPDATE "inbox_activities" SET "recipient_id" = "parley_letter_id"("recipient_id")
  WHERE "recipient_id" ~ '^[0-7][0-9a-hjkmnp-tv-z]{25}$';--> statement-breakpoint
ALTER TABLE "access_tokens" ADD CONSTRAINT "access_tokens_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "account_keys" ADD CONSTRAINT "account_keys_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "blocks" ADD CONSTRAINT "blocks_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "blocks" ADD CONSTRAINT "blocks_target_account_id_accounts_id_fk" FOREIGN KEY ("target_account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "mutes" ADD CONSTRAINT "mutes_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "mutes" ADD CONSTRAINT "mutes_target_account_id_accounts_id_fk" FOREIGN KEY ("target_account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "chats" ADD CONSTRAINT "chats_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "chats" ADD CONSTRAINT "chats_recipient_id_accounts_id_fk" FOREIGN KEY ("recipient_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "idempotency_keys" ADD CONSTRAINT "idempotency_keys_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "message_refs" ADD CONSTRAINT "message_refs_chat_id_chats_id_fk" FOREIGN KEY ("chat_id") REFERENCES "public"."chats"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "message_refs" ADD CONSTRAINT "message_refs_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "messages" ADD CONSTRAINT "messages_author_id_accounts_id_fk" FOREIGN KEY ("author_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "messages" ADD CONSTRAINT "messages_recipient_id_accounts_id_fk" FOREIGN KEY ("recipient_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "messages" ADD CONSTRAINT "messages_media_id_media_id_fk" FOREIGN KEY ("media_id") REFERENCES "public"."media"("id") ON DELETE set null ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_sender_id_accounts_id_fk" FOREIGN KEY ("sender_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_recipient_id_accounts_id_fk" FOREIGN KEY ("recipient_id") REFERENCES "public"."accounts"("id") ON DELETE set null ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "inbox_activities" ADD CONSTRAINT "inbox_activities_recipient_id_accounts_id_fk" FOREIGN KEY ("recipient_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "media" ADD CONSTRAINT "media_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_from_account_id_accounts_id_fk" FOREIGN KEY ("from_account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_message_ref_id_message_refs_id_fk" FOREIGN KEY ("message_ref_id") REFERENCES "public"."message_refs"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
DROP FUNCTION "parley_letter_id"(text);
