import { isBlocked } from "../../../chats/chat.view.js";
import { insertRemoteMessage } from "../../../chats/remote-message.service.js";
import { applyInboundMls } from "../../../mls/inbound.js";
import { looksLikeMlsObject } from "../../../mls/vocabulary.js";
import { httpUrl, isJsonObject, type Json, parsePublished, recipientsOf, sameUri } from "../../as-json.js";
import { findLocalActor } from "../inbox-context.js";
import { type ApplyInput, PermanentApplyError } from "./context.js";
import { messageFields } from "./message-fields.js";

/**
 * `Create{ChatMessage}`: the message, its chat and notification for the local recipient. A Create
 * of an MLS object goes to src/mls/inbound.ts (always alone: never batched). Most
 * Creates go another way, many in one transaction (../batched-creates.ts, which makes the same
 * checks); this one is for a Create applied alone (its author just fetched, or its batch failed).
 */
export async function applyCreate(input: ApplyInput): Promise<string> {
  if (isJsonObject(input.payload.object) && looksLikeMlsObject(input.payload.object)) return applyInboundMls(input);
  const { deps, tx, row, payload, author, links } = input;
  const object = payload.object as Json;
  // Resolved before the transaction: the Create entry of ../handlers.ts says `resolvesAuthor`.
  if (!author) throw new Error("a Create is applied with its author resolved");
  if (!sameUri(author.uri, row.actorUri)) throw new PermanentApplyError(`resolved ${author.uri}, not ${row.actorUri}`);
  // Through the transaction, never the pool: a query on the pool while this transaction holds a
  // connection deadlocks once every pooled connection is held by such a transaction (seen under
  // 64 concurrent inbox POSTs with ROLE=all: the whole process stopped answering).
  const recipient = await findLocalActor({ db: tx, config: deps.config }, recipientsOf(object.to)[0] ?? "");
  // The recipient left meanwhile, or has blocked the sender since: nothing to deliver.
  if (!recipient) return "recipient gone";
  if (await isBlocked(tx, recipient.id, author.id)) return "blocked";
  const published = parsePublished(object.published);
  if (!published) throw new PermanentApplyError("published is not a date");
  const message = await insertRemoteMessage(tx, {
    uri: httpUrl(object.id)!.href,
    activityUri: row.activityUri,
    author,
    recipient,
    publishedAt: published,
    ...messageFields(object),
  });
  if (!message) return "duplicate";
  if (message.linkUrl) links.push({ url: message.linkUrl, messageId: message.id });
  return "created";
}
