ALTER TABLE "custom_emojis" ADD COLUMN "path" text;--> statement-breakpoint
ALTER TABLE "custom_emojis" ADD COLUMN "content_type" text;--> statement-breakpoint
ALTER TABLE "custom_emojis" ADD COLUMN "category" text;--> statement-breakpoint
ALTER TABLE "custom_emojis" ADD COLUMN "visible_in_picker" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "media" ADD COLUMN "width" integer;--> statement-breakpoint
ALTER TABLE "media" ADD COLUMN "height" integer;