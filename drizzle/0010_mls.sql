CREATE TABLE "mls_group_members" (
	"group_id" text NOT NULL,
	"account_id" text NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "mls_group_members_group_id_account_id_pk" PRIMARY KEY("group_id","account_id")
);
--> statement-breakpoint
CREATE TABLE "mls_groups" (
	"group_id" text PRIMARY KEY NOT NULL,
	"last_epoch" numeric,
	"objects" integer DEFAULT 0 NOT NULL,
	"first_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_object_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mls_key_packages" (
	"id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"uri" text NOT NULL,
	"activity_uri" text NOT NULL,
	"object" jsonb NOT NULL,
	"ciphersuite" text NOT NULL,
	"ref" text NOT NULL,
	"generator_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"removed_at" timestamp with time zone,
	"consumed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "mls_mailbox" (
	"owner_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"object_id" text NOT NULL,
	"notify" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "mls_mailbox_owner_id_seq_pk" PRIMARY KEY("owner_id","seq")
);
--> statement-breakpoint
CREATE TABLE "mls_objects" (
	"id" text PRIMARY KEY NOT NULL,
	"uri" text NOT NULL,
	"activity_uri" text NOT NULL,
	"sender_id" text NOT NULL,
	"local" boolean NOT NULL,
	"type" text NOT NULL,
	"wire_format" integer NOT NULL,
	"group_id" text,
	"epoch" numeric,
	"content_type" text,
	"type_mismatch" boolean DEFAULT false NOT NULL,
	"recipients" text[] NOT NULL,
	"activity" jsonb NOT NULL,
	"size" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mls_sequences" (
	"owner_id" text PRIMARY KEY NOT NULL,
	"last_seq" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "mls_object_id" text;--> statement-breakpoint
ALTER TABLE "mls_group_members" ADD CONSTRAINT "mls_group_members_group_id_mls_groups_group_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."mls_groups"("group_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mls_group_members" ADD CONSTRAINT "mls_group_members_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "mls_key_packages" ADD CONSTRAINT "mls_key_packages_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "mls_mailbox" ADD CONSTRAINT "mls_mailbox_owner_id_accounts_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "mls_mailbox" ADD CONSTRAINT "mls_mailbox_object_id_mls_objects_id_fk" FOREIGN KEY ("object_id") REFERENCES "public"."mls_objects"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "mls_objects" ADD CONSTRAINT "mls_objects_sender_id_accounts_id_fk" FOREIGN KEY ("sender_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "mls_sequences" ADD CONSTRAINT "mls_sequences_owner_id_accounts_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
CREATE INDEX "mls_group_members_account_idx" ON "mls_group_members" USING btree ("account_id");--> statement-breakpoint
CREATE UNIQUE INDEX "mls_key_packages_uri_idx" ON "mls_key_packages" USING btree ("uri");--> statement-breakpoint
CREATE INDEX "mls_key_packages_account_idx" ON "mls_key_packages" USING btree ("account_id","created_at");--> statement-breakpoint
CREATE INDEX "mls_key_packages_ref_idx" ON "mls_key_packages" USING btree ("ref");--> statement-breakpoint
CREATE UNIQUE INDEX "mls_mailbox_owner_object_idx" ON "mls_mailbox" USING btree ("owner_id","object_id");--> statement-breakpoint
CREATE UNIQUE INDEX "mls_objects_uri_idx" ON "mls_objects" USING btree ("uri");--> statement-breakpoint
CREATE UNIQUE INDEX "mls_objects_activity_uri_idx" ON "mls_objects" USING btree ("activity_uri");--> statement-breakpoint
CREATE INDEX "mls_objects_group_epoch_idx" ON "mls_objects" USING btree ("group_id","epoch");--> statement-breakpoint
CREATE INDEX "mls_objects_sender_idx" ON "mls_objects" USING btree ("sender_id","created_at");--> statement-breakpoint
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_mls_object_id_mls_objects_id_fk" FOREIGN KEY ("mls_object_id") REFERENCES "public"."mls_objects"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
CREATE INDEX "notifications_mls_object_idx" ON "notifications" USING btree ("mls_object_id");