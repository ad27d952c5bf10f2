import { and, eq, inArray, notInArray, sql } from "drizzle-orm";
import type { AccountRow } from "../../accounts/account.view.js";
import { insertRemoteMessages } from "../../chats/remote-message.service.js";
import type { Transaction } from "../../db/database.js";
import { accounts, blocks, inboxActivities } from "../../db/schema/index.js";
import type { LinkCardJob } from "../../link-cards/link-cards.js";
import { looksLikeMlsObject } from "../../mls/vocabulary.js";
import { httpUrl, isJsonObject, type Json, parsePublished, recipientsOf, sameUri, typesOf } from "../as-json.js";
import { ACTOR_TTL_MS } from "../remote-actors.js";
import type { InboundDeps, InboxRow } from "./apply/context.js";
import { messageFields } from "./apply/message-fields.js";
import { findLocalActor } from "./inbox-context.js";

/**
 * `Create{ChatMessage}` rows of cached authors, applied many in one transaction in a fixed number
 * of statements (apply/create.ts applies one alone, with the same checks and results).
 */

export interface BatchedCreate {
  row: InboxRow;
  object: Json;
  author: AccountRow;
  recipientUri: string;
  published: Date;
  uri: string;
}

export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The cached remote actors among `actorUris` that resolveRemoteActor would return without a fetch
 * (fresh, not gone), by actor id, in one query; the others go through resolveRemoteActor.
 */
export async function cachedAuthors(deps: InboundDeps, actorUris: string[]): Promise<Map<string, AccountRow>> {
  const uris = [...new Set(actorUris.map((uri) => httpUrl(uri)?.href).filter((uri): uri is string => uri !== undefined))];
  if (uris.length === 0) return new Map();
  const rows = await deps.db.select().from(accounts).where(inArray(accounts.uri, uris));
  return new Map(rows.filter(isFresh).map((a) => [a.uri, a]));
}

/** A remote actor resolveRemoteActor returns from its cache without a fetch. */
function isFresh(a: AccountRow): boolean {
  return a.domain !== null && a.goneAt === null && a.fetchedAt !== null && Date.now() - a.fetchedAt.getTime() < ACTOR_TTL_MS;
}

/** A Create whose author is cached and whose object passes the checks applyCreate makes; else undefined. */
export function batchableCreate(row: InboxRow, authors: Map<string, AccountRow>): BatchedCreate | undefined {
  const payload = row.payload as Json;
  if (!typesOf(payload).includes("Create") || !isJsonObject(payload.object)) return undefined;
  // An MLS object is applied alone, in its sender's order (src/mls/inbound.ts).
  if (looksLikeMlsObject(payload.object)) return undefined;
  const author = authors.get(httpUrl(row.actorUri)?.href ?? "");
  const object = payload.object as Json;
  const published = parsePublished(object.published);
  const uri = httpUrl(object.id)?.href;
  if (!author || !sameUri(author.uri, row.actorUri) || !published || !uri) return undefined;
  return { row, object, author, recipientUri: recipientsOf(object.to)[0] ?? "", published, uri };
}

/**
 * Applies Creates of cached remote authors in the caller's transaction, as applyCreate would one by
 * one, in a fixed number of statements: lock the rows (a row another transaction applied meanwhile
 * is left out); take along up to `pull` other pending Creates of cached authors that no one holds
 * (their own jobs will find them applied and skip them); mark them all applied; find the
 * recipients and blocks; insert the messages with their references, chats, notifications and
 * stream events (insertRemoteMessages). Returns the result of each of `creates`, in order.
 */
export async function applyCreates(
  deps: InboundDeps,
  tx: Transaction,
  creates: BatchedCreate[],
  pull: number,
  along: string[],
  /** Preview cards to request once the transaction committed. */
  links: LinkCardJob[],
): Promise<{ results: string[]; saturated: boolean }> {
  const ids = creates.map((c) => c.row.id);
  const locked = ids.length
    ? await tx
        .select({ id: inboxActivities.id })
        .from(inboxActivities)
        .where(and(inArray(inboxActivities.id, ids), eq(inboxActivities.status, "pending")))
        .orderBy(inboxActivities.id)
        .for("update")
    : [];
  const mine = new Set(locked.map((m) => m.id));
  const results: string[] = creates.map((c) => (mine.has(c.row.id) ? "" : "nothing"));
  const { taken, saturated } = pull > 0 ? await pullCreates(tx, ids, pull) : { taken: [], saturated: false };
  along.push(...taken.map((c) => c.row.id));
  const batch = [...creates.map((c, i) => ({ c, i })).filter(({ i }) => results[i] === ""), ...taken.map((c) => ({ c, i: -1 }))];
  if (batch.length === 0) return { results, saturated };
  await tx
    .update(inboxActivities)
    .set({ status: "applied", error: null, processedAt: sql`now()` })
    .where(
      inArray(
        inboxActivities.id,
        batch.map(({ c }) => c.row.id),
      ),
    );
  const outcome = new Map<BatchedCreate, string>();
  // Through the transaction, never the pool (see apply/create.ts).
  const recipients = new Map<string, AccountRow | undefined>();
  for (const { c } of batch) {
    if (!recipients.has(c.recipientUri))
      recipients.set(c.recipientUri, await findLocalActor({ db: tx, config: deps.config }, c.recipientUri));
  }
  const candidates: { c: BatchedCreate; recipient: AccountRow }[] = [];
  for (const { c } of batch) {
    const recipient = recipients.get(c.recipientUri);
    if (recipient) candidates.push({ c, recipient });
    else outcome.set(c, "recipient gone");
  }
  const blocked = await blockedPairs(
    tx,
    candidates.map((p) => [p.recipient.id, p.c.author.id]),
  );
  const toInsert = candidates.filter((p) => {
    if (!blocked.has(`${p.recipient.id} ${p.c.author.id}`)) return true;
    outcome.set(p.c, "blocked");
    return false;
  });
  // In arrival order: a chat's references follow its messages' arrival.
  toInsert.sort((a, b) => compareIds(a.c.row.id, b.c.row.id));
  const inserted = await insertRemoteMessages(
    tx,
    toInsert.map(({ c, recipient }) => ({
      uri: c.uri,
      activityUri: c.row.activityUri,
      author: c.author,
      recipient,
      publishedAt: c.published,
      ...messageFields(c.object),
    })),
  );
  for (const [k, p] of toInsert.entries()) outcome.set(p.c, inserted[k] ? "created" : "duplicate");
  for (const m of inserted) if (m?.linkUrl) links.push({ url: m.linkUrl, messageId: m.id });
  for (const { c, i } of batch) {
    if (i >= 0) results[i] = outcome.get(c)!;
    else deps.logger.debug({ inboxActivity: c.row.id, activity: c.row.activityUri, result: outcome.get(c) }, "inbound: applied along");
  }
  return { results, saturated };
}

/**
 * Up to `limit` other pending Creates whose author is cached and fresh, locked — skipping the rows
 * another transaction holds (a job applying its own row) — for applyCreates to take along.
 */
async function pullCreates(tx: Transaction, exclude: string[], limit: number): Promise<{ taken: BatchedCreate[]; saturated: boolean }> {
  const rows = await tx
    .select({ row: inboxActivities, author: accounts })
    .from(inboxActivities)
    .leftJoin(accounts, eq(accounts.uri, inboxActivities.actorUri))
    .where(
      and(
        eq(inboxActivities.status, "pending"),
        notInArray(inboxActivities.id, exclude),
        sql`${inboxActivities.payload}->>'type' = 'Create'`,
      ),
    )
    .limit(limit)
    .for("update", { of: inboxActivities, skipLocked: true });
  const authors = new Map(rows.flatMap(({ author }) => (author && isFresh(author) ? [[author.uri, author] as const] : [])));
  const taken = rows.map(({ row }) => batchableCreate(row, authors)).filter((c): c is BatchedCreate => c !== undefined);
  // Only when every row it found was taken: a pending row it cannot take (its author to fetch, say)
  // must not keep a job going on for nothing.
  return { taken, saturated: rows.length === limit && taken.length === rows.length };
}

/** Which (account, target) pairs are blocks, in one query: "account target" keys. */
async function blockedPairs(tx: Transaction, pairs: [string, string][]): Promise<Set<string>> {
  if (pairs.length === 0) return new Set();
  const rows = await tx
    .select({ accountId: blocks.accountId, targetId: blocks.targetAccountId })
    .from(blocks)
    .where(
      sql`(${blocks.accountId}, ${blocks.targetAccountId}) IN (SELECT * FROM unnest(${sql.param(pairs.map((p) => p[0]))}::text[], ${sql.param(pairs.map((p) => p[1]))}::text[]))`,
    );
  return new Set(rows.map((r) => `${r.accountId} ${r.targetId}`));
}
