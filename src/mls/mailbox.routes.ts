import { z } from "zod";
import { errors } from "../http/entities.js";
import { defineRoute } from "../http/route.js";
import { renderMailboxItem } from "../streaming/mls-message.view.js";
import { MAILBOX_DEFAULT_LIMIT, MAILBOX_MAX_LIMIT, mailboxEntries } from "./mailbox.view.js";

/**
 * The MLS mailbox for the local API layer: what a client polls, or reads after a
 * `parley:mls_message` streaming event. The same entries as the actor's `messages` collection
 * (src/mls/messages-collection.routes.ts), oldest first, as flat JSON a chat client reads easily.
 */

const tags = ["mls"];

export const MlsMessageEntity = z
  .object({
    seq: z.number().int().meta({ description: "The owner's sequence number: the order to apply messages in" }),
    id: z.string().meta({ description: "The MLS object's id" }),
    activity_id: z.string().meta({ description: "The id of the Create that carried it" }),
    type: z.enum(["PrivateMessage", "PublicMessage", "Welcome", "GroupInfo"]),
    sender: z.string().meta({ description: "The sending actor's id" }),
    group_id: z.string().nullable().meta({ description: "Hex of the MLS group id (null on a Welcome)" }),
    epoch: z.string().nullable().meta({ description: "Decimal epoch from the clear header (null on a Welcome)" }),
    content_type: z.enum(["application", "proposal", "commit"]).nullable(),
    created_at: z.string().meta({ description: "When it entered the owner's mailbox" }),
    object: z.record(z.string(), z.unknown()).meta({ description: "The MLS object as sent or received, `content` untouched" }),
  })
  .meta({ id: "MlsMessage" });

const query = z.object({
  since_seq: z.coerce.number().int().min(0).default(0),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .default(MAILBOX_DEFAULT_LIMIT)
    .transform((n) => Math.min(n, MAILBOX_MAX_LIMIT)),
});

export const mlsMailboxRoutes = [
  defineRoute({
    method: "get",
    path: "/api/v1/parley/mls/messages",
    summary: "The caller's MLS objects after `since_seq`, oldest first (limit 20, at most 100)",
    tags,
    auth: "user",
    query,
    responses: { 200: { description: "Mailbox entries, seq ascending", schema: z.array(MlsMessageEntity) }, ...errors },
    async handle({ deps, account, query }) {
      const rows = await mailboxEntries(deps.db, account.id, { afterSeq: query.since_seq, limit: query.limit, order: "asc" });
      return rows.map(renderMailboxItem);
    },
  }),
];
