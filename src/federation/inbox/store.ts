import type { JobsOptions, Queue } from "bullmq";
import { and, asc, eq, lt, sql } from "drizzle-orm";
import { findMessageByUri } from "../../chats/remote-message.service.js";
import type { Executor } from "../../db/database.js";
import { accounts, blocks, inboxActivities, messages } from "../../db/schema/index.js";
import { newId } from "../../shared/ids.js";
import { httpUrl, type Json, sameUri } from "../as-json.js";
import type { InboxDeps } from "./inbox-context.js";

/** A pending row younger than this may simply not have been picked up yet. */
export const RECONCILE_AFTER_MS = 60_000;

/** Apply jobs retry with exponential backoff: 3 s, 6 s, 12 s … 13 min; about 25 minutes in all. */
export const INBOUND_JOB_OPTIONS: JobsOptions = {
  attempts: 10,
  backoff: { type: "exponential", delay: 3_000 },
  removeOnComplete: { count: 1_000 },
  removeOnFail: { count: 5_000 },
};

/** How long the inbox waits for the queue after its commit; beyond, the reconciler takes over. */
const ENQUEUE_WAIT_MS = 2_000;

/** Enqueues the application of an inbox_activities row; the job id is the row id (adds are idempotent). */
export async function enqueueInbound(queue: Queue, id: string): Promise<void> {
  await queue.add("apply", { inboxActivityId: id }, { ...INBOUND_JOB_OPTIONS, jobId: id });
}

/**
 * What the inbox must know of a valid Create{ChatMessage} before storing it, in one round trip:
 * whether the activity or its object is stored already, and whether the recipient blocks the sender.
 */
export async function whatIsKnownOfCreate(
  db: Executor,
  create: { activityUri: string; objectUri: string; actorUri: string; recipientId: string },
): Promise<{ activityStored: boolean; objectStored: boolean; senderBlocked: boolean }> {
  const [row] = await db.execute<{ activity_stored: boolean; object_stored: boolean; sender_blocked: boolean }>(sql`SELECT
    EXISTS (SELECT 1 FROM ${inboxActivities} WHERE activity_uri = ${create.activityUri}) AS activity_stored,
    EXISTS (SELECT 1 FROM ${messages} WHERE uri = ${create.objectUri}) AS object_stored,
    EXISTS (SELECT 1 FROM ${blocks} b JOIN ${accounts} sender ON sender.id = b.target_account_id
      WHERE b.account_id = ${create.recipientId} AND sender.uri = ${create.actorUri}) AS sender_blocked`);
  return { activityStored: row.activity_stored, objectStored: row.object_stored, senderBlocked: row.sender_blocked };
}

/**
 * Writes the activity to inbox_activities (committed before the inbox answers 202), then enqueues
 * its application. A second copy of the same activity id stores nothing. A failed enqueue (Redis
 * away) loses nothing: the reconciler re-enqueues pending rows.
 */
export async function storeInboundActivity(
  deps: InboxDeps,
  row: { activityUri: string; actorUri: string; recipientId: string | null; payload: Json },
): Promise<{ stored: boolean; id?: string }> {
  const [inserted] = await deps.db
    .insert(inboxActivities)
    .values({ id: newId(), ...row })
    .onConflictDoNothing({ target: inboxActivities.activityUri })
    .returning({ id: inboxActivities.id });
  if (!inserted) return { stored: false };
  // Bounded: while Redis is away ioredis queues the command; the inbox answers 202 regardless.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    enqueueInbound(deps.queues.inbound, inserted.id).catch((error) => {
      deps.logger.warn({ err: error, inboxActivity: inserted.id }, "inbox: enqueue failed; the reconciler will retry");
    }),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ENQUEUE_WAIT_MS);
    }),
  ]);
  clearTimeout(timer);
  return { stored: true, id: inserted.id };
}

/**
 * Whether a Create of this object by this actor is accepted but not applied yet: a Delete, Update
 * or Undo racing its Create is kept (and waits for it in the worker) rather than dropped.
 */
export async function hasPendingCreate(db: Executor, actorUri: string, objectUri: string): Promise<boolean> {
  const rows = await db
    .select({ id: inboxActivities.id })
    .from(inboxActivities)
    .where(
      and(
        eq(inboxActivities.status, "pending"),
        eq(inboxActivities.actorUri, actorUri),
        sql`${inboxActivities.payload}->>'type' = 'Create'`,
        sql`${inboxActivities.payload}->'object'->>'id' = ${objectUri}`,
      ),
    )
    .limit(1);
  return rows.length > 0;
}

/** Whether `objectUri` is a ChatMessage of this actor, stored or on its way (a pending Create). */
export async function isOwnChatMessage(db: Executor, actorUri: string, objectUri: string): Promise<boolean> {
  const url = httpUrl(objectUri);
  if (!url) return false;
  const found = await findMessageByUri(db, url.href);
  if (found) return !found.message.local && sameUri(found.authorUri, actorUri);
  return hasPendingCreate(db, actorUri, objectUri);
}

/** Re-enqueues pending rows older than `olderThanMs` that have no live job. Returns how many. */
export async function reconcileInbound(
  deps: Pick<InboxDeps, "db" | "queues" | "logger">,
  olderThanMs = RECONCILE_AFTER_MS,
): Promise<number> {
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
