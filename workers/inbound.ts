import { type Job, UnrecoverableError } from "bullmq";
import { and, asc, eq, lt, sql } from "drizzle-orm";
import type { AccountRow } from "../src/accounts/account.view.js";
import { isBlocked } from "../src/chats/chat.view.js";
import {
  deleteRemoteActor,
  editRemoteMessage,
  findMessageByUri,
  insertRemoteMessage,
  type RemoteMessageFields,
  restoreRemoteMessage,
  tombstoneRemoteMessage,
} from "../src/chats/remote-message.service.js";
import type { Transaction } from "../src/db/database.js";
import { inboxActivities } from "../src/db/schema/index.js";
import {
  emojisOf,
  firstAttachment,
  httpUrl,
  idOf,
  isJsonObject,
  type Json,
  parsePublished,
  recipientsOf,
  sameUri,
  sanitizedContent,
  typesOf,
} from "../src/federation/inbox/chat-message-rules.js";
import { findLocalActor } from "../src/federation/inbox/inbox-context.js";
import { enqueueInbound, hasPendingCreate } from "../src/federation/inbox/store.js";
import { RemoteActorError, resolveRemoteActor } from "../src/federation/remote-actors.js";
import type { Deps } from "../src/shared/deps.js";
import { newId } from "../src/shared/ids.js";

/**
 * Applies accepted inbox activities (inbox_activities rows; job id = row id), each in one
 * transaction, then marks the row applied — or failed, with the error, after the last attempt.
 * A scheduled `reconcile` job re-enqueues pending rows whose job went missing (a Redis loss, say).
 */

type InboundDeps = Pick<Deps, "db" | "config" | "logger" | "queues">;
type InboxRow = typeof inboxActivities.$inferSelect;

/** A Delete/Update/Undo whose Create is still pending: retried until the Create is applied. */
class WaitingForCreate extends Error {}

/** Errors of resolveRemoteActor that no retry will cure. */
const PERMANENT_ACTOR_ERRORS = new Set(["gone", "not_found", "not_an_actor", "id_mismatch", "invalid_actor", "invalid_url", "username_conflict"]);

export const RECONCILE_EVERY_MS = 30_000;
/** A pending row younger than this may simply not have been picked up yet. */
export const RECONCILE_AFTER_MS = 60_000;

/** The reconciler's job scheduler on the inbound queue (kept in place by startWorkers). */
export function inboundSchedules() {
  return [{ id: "inbound-reconcile", every: RECONCILE_EVERY_MS, name: "reconcile" }];
}

export function inboundProcessor(deps: InboundDeps) {
  return async (job: Job) => {
    if (job.name === "reconcile") return { reenqueued: await reconcileInbound(deps) };
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    return applyInboxActivity(deps, job.id!, { lastAttempt });
  };
}

/** Re-enqueues pending rows older than `olderThanMs` that have no live job. Returns how many. */
export async function reconcileInbound(deps: InboundDeps, olderThanMs = RECONCILE_AFTER_MS): Promise<number> {
  const rows = await deps.db
    .select({ id: inboxActivities.id })
    .from(inboxActivities)
    .where(and(eq(inboxActivities.status, "pending"), lt(inboxActivities.receivedAt, new Date(Date.now() - olderThanMs))))
    .orderBy(asc(inboxActivities.receivedAt))
    .limit(1_000);
  let reenqueued = 0;
  for (const { id } of rows) {
    const job = await deps.queues.inbound.getJob(id);
    if (job) {
      const state = await job.getState();
      // Waiting, delayed (backoff) or running: it will come. Finished while the row stayed
      // pending (its outcome was never written): run it again.
      if (state !== "completed" && state !== "failed") continue;
      await job.remove();
    }
    await enqueueInbound(deps.queues.inbound, id);
    reenqueued++;
  }
  if (reenqueued > 0) deps.logger.info({ reenqueued }, "inbound: re-enqueued pending activities");
  return reenqueued;
}

export type ApplyOutcome = { status: "applied"; result: string } | { status: "skipped" };

/** Applies one row; throws (for BullMQ to retry) when it could not. */
export async function applyInboxActivity(deps: InboundDeps, id: string, options: { lastAttempt: boolean }): Promise<ApplyOutcome> {
  const [row] = await deps.db.select().from(inboxActivities).where(eq(inboxActivities.id, id)).limit(1);
  if (!row || row.status !== "pending") return { status: "skipped" };
  await deps.db
    .update(inboxActivities)
    .set({ attempts: sql`${inboxActivities.attempts} + 1` })
    .where(eq(inboxActivities.id, id));
  try {
    const payload = row.payload as Json;
    // Network first, outside the transaction: the author of a new message is resolved (cached a day).
    const author = typesOf(payload).includes("Create") ? await resolveAuthor(deps, row.actorUri) : undefined;
    let result = "nothing";
    await deps.db.transaction(async (tx) => {
      const [locked] = await tx
        .select({ id: inboxActivities.id })
        .from(inboxActivities)
        .where(and(eq(inboxActivities.id, id), eq(inboxActivities.status, "pending")))
        .for("update");
      if (!locked) return;
      result = await apply(deps, tx, row, payload, author);
      await tx
        .update(inboxActivities)
        .set({ status: "applied", error: null, processedAt: sql`now()` })
        .where(eq(inboxActivities.id, id));
    });
    deps.logger.debug({ inboxActivity: id, activity: row.activityUri, result }, "inbound: applied");
    return { status: "applied", result };
  } catch (error) {
    const permanent = error instanceof UnrecoverableError;
    if (permanent || options.lastAttempt) {
      await deps.db
        .update(inboxActivities)
        .set({ status: "failed", error: errorText(error), processedAt: sql`now()` })
        .where(and(eq(inboxActivities.id, id), eq(inboxActivities.status, "pending")));
    } else {
      await deps.db.update(inboxActivities).set({ error: errorText(error) }).where(eq(inboxActivities.id, id));
    }
    throw error;
  }
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.slice(0, 2_000);
}

async function resolveAuthor(deps: InboundDeps, actorUri: string): Promise<AccountRow> {
  try {
    return await resolveRemoteActor(deps, actorUri);
  } catch (error) {
    if (error instanceof RemoteActorError && PERMANENT_ACTOR_ERRORS.has(error.code)) {
      throw new UnrecoverableError(`author ${actorUri}: ${error.code}: ${error.message}`);
    }
    throw error;
  }
}

async function apply(deps: InboundDeps, tx: Transaction, row: InboxRow, payload: Json, author: AccountRow | undefined): Promise<string> {
  const types = typesOf(payload);
  if (types.includes("Create")) return applyCreate(deps, tx, row, payload, author!);
  if (types.includes("Update")) return applyUpdate(tx, row, payload);
  if (types.includes("Delete")) return applyDelete(tx, row, payload);
  if (types.includes("Undo")) return applyUndo(tx, row, payload);
  return "unsupported";
}

/** The message columns a ChatMessage object carries (the inbox checked it already). */
function messageFields(object: Json): RemoteMessageFields {
  const attachment = firstAttachment(object);
  return {
    content: sanitizedContent(object),
    emojis: emojisOf(object) ?? [],
    remoteAttachment: attachment
      ? {
          id: newId(),
          type: attachment.kind,
          url: attachment.url,
          remote_url: attachment.url,
          preview_url: attachment.url,
          text_url: null,
          description: attachment.description,
          blurhash: attachment.blurhash,
          meta: attachment.width && attachment.height ? { original: { width: attachment.width, height: attachment.height } } : {},
          pleroma: { mime_type: attachment.mediaType },
        }
      : null,
  };
}

async function applyCreate(deps: InboundDeps, tx: Transaction, row: InboxRow, payload: Json, author: AccountRow): Promise<string> {
  const object = payload.object as Json;
  if (!sameUri(author.uri, row.actorUri)) throw new UnrecoverableError(`resolved ${author.uri}, not ${row.actorUri}`);
  // Through the transaction, never the pool: a query on the pool while this transaction holds a
  // connection deadlocks once every pooled connection is held by such a transaction (seen under
  // 64 concurrent inbox POSTs with ROLE=all: the whole process stopped answering).
  const recipient = await findLocalActor({ db: tx, config: deps.config }, recipientsOf(object.to)[0] ?? "");
  // The recipient left meanwhile, or has blocked the sender since: nothing to deliver.
  if (!recipient) return "recipient gone";
  if (await isBlocked(tx, recipient.id, author.id)) return "blocked";
  const published = parsePublished(object.published);
  if (!published) throw new UnrecoverableError("published is not a date");
  const message = await insertRemoteMessage(tx, {
    uri: httpUrl(object.id)!.href,
    activityUri: row.activityUri,
    author,
    recipient,
    publishedAt: published,
    ...messageFields(object),
  });
  if (!message) return "duplicate";
  return "created";
}

/** The message an activity of `row.actorUri` targets, when that actor wrote it. */
async function ownMessage(tx: Transaction, row: InboxRow, objectUri: string | undefined) {
  const url = httpUrl(objectUri);
  if (!url) return undefined;
  const found = await findMessageByUri(tx, url.href);
  if (found) return !found.message.local && sameUri(found.authorUri, row.actorUri) ? found.message : undefined;
  // Its Create is accepted but not applied yet (another job, maybe retrying): wait for it.
  if (await hasPendingCreate(tx, row.actorUri, objectUri!)) throw new WaitingForCreate(`the Create of ${objectUri} is not applied yet`);
  return undefined;
}

async function applyUpdate(tx: Transaction, row: InboxRow, payload: Json): Promise<string> {
  const object = payload.object as Json;
  const message = await ownMessage(tx, row, idOf(object));
  if (!message) return "unknown message";
  const editedAt = parsePublished(object.updated) ?? parsePublished(payload.published) ?? new Date();
  const fields = messageFields(object);
  // An edit without attachment keeps the one the message has (Lemmy never sends any).
  const changes: Partial<RemoteMessageFields> = fields.remoteAttachment ? fields : { content: fields.content, emojis: fields.emojis };
  return (await editRemoteMessage(tx, message, changes, editedAt)) ? "edited" : "stale edit";
}

async function applyDelete(tx: Transaction, row: InboxRow, payload: Json): Promise<string> {
  const objectUri = idOf(payload.object);
  if (sameUri(objectUri, row.actorUri)) return (await deleteRemoteActor(tx, row.actorUri)) ? "actor deleted" : "unknown actor";
  const message = await ownMessage(tx, row, objectUri);
  if (!message) return "unknown message";
  return (await tombstoneRemoteMessage(tx, message)) ? "deleted" : "already deleted";
}

async function applyUndo(tx: Transaction, row: InboxRow, payload: Json): Promise<string> {
  let undone = payload.object;
  if (!isJsonObject(undone) || undone.type === undefined) {
    // Named by id: the Delete we stored.
    const id = httpUrl(idOf(undone))?.href;
    const [stored] = id
      ? await tx.select({ payload: inboxActivities.payload }).from(inboxActivities).where(eq(inboxActivities.activityUri, id))
      : [];
    undone = stored?.payload;
  }
  if (!isJsonObject(undone) || !typesOf(undone).includes("Delete")) return "not an Undo{Delete}";
  const message = await ownMessage(tx, row, idOf(undone.object));
  if (!message) return "unknown message";
  return (await restoreRemoteMessage(tx, message)) ? "restored" : "not deleted";
}
