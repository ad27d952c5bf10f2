DROP INDEX "chats_account_updated_idx";--> statement-breakpoint
DROP INDEX "message_refs_chat_id_idx";--> statement-breakpoint
CREATE INDEX "chats_account_updated_idx" ON "chats" USING btree ("account_id","updated_at","id");--> statement-breakpoint
CREATE INDEX "message_refs_chat_id_idx" ON "message_refs" USING btree ("chat_id","id");