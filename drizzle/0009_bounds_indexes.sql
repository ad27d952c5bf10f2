DROP INDEX "media_account_idx";--> statement-breakpoint
CREATE INDEX "messages_media_idx" ON "messages" USING btree ("media_id") WHERE "messages"."media_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "media_account_created_idx" ON "media" USING btree ("account_id","created_at");--> statement-breakpoint
CREATE INDEX "notifications_from_account_idx" ON "notifications" USING btree ("from_account_id");