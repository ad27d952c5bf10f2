import type { JobsOptions, Queue } from "bullmq";
import { aliasedTable, and, eq, inArray, type SQL, sql } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import type { AccountRow } from "../../accounts/account.view.js";
import type { Database, Executor, Transaction } from "../../db/database.js";
import { accounts, deliveries, media, messages } from "../../db/schema/index.js";
import { DomainError } from "../../shared/errors.js";
import { newId } from "../../shared/ids.js";
import { createActivity, deleteActivity, updateActivity } from "./activities.js";
import { dropsChatMessage } from "./chat-software.js";

/**
 * Writes of outgoing federation: one `deliveries` row per (activity, inbox), in the transaction of
 * the change it federates; the `deliver` job (job id = row id) is added after commit. A job lost
 * before or after that (Redis down, flushed) is re-added by the reconciler: PostgreSQL decides.
 */

export type DeliverQueue = Pick<Queue, "add">;

/** `job name` of delivery jobs on the `deliver` queue (before the activity type and host). */
export const DELIVER_JOB = "deliver";

/** What a delivery job carries, for an operator reading it on /admin/queues (the row has the rest). */
export interface DeliveryJobRef {
  id: string;
  /** Activity type: Create, Update, Delete. */
  type: string;
  inboxUrl: string;
  messageId: string | null;
}

/** Name and data of a delivery's job: `deliver Create → remote.example`, job id = delivery id. */
export function deliveryJob(ref: DeliveryJobRef): { name: string; data: Record<string, unknown> } {
  let host = "?";
  try {
    host = new URL(ref.inboxUrl).host;
  } catch {
    // an invalid URL: the worker fails the delivery and says why
  }
  return {
    name: `${DELIVER_JOB} ${ref.type} → ${host}`,
    data: { deliveryId: ref.id, type: ref.type, messageId: ref.messageId, inboxUrl: ref.inboxUrl },
  };
}

/** The inbox a delivery goes to: the shared inbox when the peer has one (one POST per server). */
export function inboxOf(recipient: Pick<AccountRow, "inboxUrl" | "sharedInboxUrl">): { url: string; personal: boolean } | null {
  if (recipient.sharedInboxUrl) return { url: recipient.sharedInboxUrl, personal: false };
  if (recipient.inboxUrl) return { url: recipient.inboxUrl, personal: true };
  return null;
}

/**
 * Refuses, with the reason the client is told, a message to a remote account that cannot get it;
 * returns the hosts a domain block must not name (the caller checks them, with its other checks).
 */
export function remoteRecipientHosts(recipient: AccountRow): string[] {
  if (recipient.goneAt) throw new DomainError("unprocessable", "recipient_gone");
  if (recipient.acceptsChatMessages === false) throw new DomainError("unprocessable", "recipient_does_not_accept_chats");
  // The actor's own `false` was handled above; otherwise only software known to drop the type is refused.
  if (recipient.acceptsChatMessages !== true && dropsChatMessage(recipient.software)) {
    throw new DomainError("unprocessable", "recipient_cannot_receive_chats");
  }
  const inbox = inboxOf(recipient);
  if (!inbox) throw new DomainError("unprocessable", "recipient_cannot_receive_chats");
  return [new URL(inbox.url).host, ...(recipient.domain ? [recipient.domain] : [])];
}

const authors = aliasedTable(accounts, "author");
const recipients = aliasedTable(accounts, "recipient");

/** A message with its author, recipient and uploaded attachment: what the activity builders take. */
export async function loadParts(tx: Executor, messageId: string) {
  const [row] = await tx
    .select({ message: messages, author: authors, recipient: recipients, attachment: media })
    .from(messages)
    .innerJoin(authors, eq(authors.id, messages.authorId))
    .innerJoin(recipients, eq(recipients.id, messages.recipientId))
    .leftJoin(media, eq(media.id, messages.mediaId))
    .where(eq(messages.id, messageId));
  return row;
}

export type FederatedChange = "Create" | "Update" | "Delete";

/**
 * Writes the delivery of a change to a local author's message whose recipient is remote; returns
 * the delivery (id, for its job) or null when nothing is to be sent. Call it inside the change's transaction,
 * after the change; `remoteRecipientHosts` has vetted a new message's recipient already. Edits and
 * deletions of messages to a recipient gone since are simply not sent.
 */
export async function federateMessage(
  tx: Transaction,
  publicUrl: string,
  change: FederatedChange,
  messageId: string,
): Promise<DeliveryJobRef | null> {
  const parts = await loadParts(tx, messageId);
  if (!parts || parts.author.domain !== null || parts.recipient.domain === null) return null;
  const inbox = inboxOf(parts.recipient);
  if (!inbox || (change !== "Create" && parts.recipient.goneAt)) return null;

  let activity;
  if (change === "Create") activity = createActivity(parts, publicUrl);
  else if (change === "Update") {
    activity = updateActivity(parts, publicUrl);
    // A Create not delivered yet carries the new text; an older Update would revert it if it came later.
    await tx
      .update(deliveries)
      .set({ activity: createActivity(parts, publicUrl), updatedAt: new Date() })
      .where(
        and(
          eq(deliveries.messageId, messageId),
          eq(deliveries.status, "pending"),
          eq(deliveries.activityUri, parts.message.activityUri ?? ""),
        ),
      );
    await cancelPending(tx, messageId, ["Update"], "superseded by a later Update");
  } else {
    activity = deleteActivity(parts, publicUrl);
    // Sending the message (or its edit) after its Delete would bring it back.
    await cancelPending(tx, messageId, ["Create", "Update"], "cancelled: the message was deleted");
  }

  const id = newId();
  await tx.insert(deliveries).values({
    id,
    messageId,
    senderId: parts.author.id,
    recipientId: parts.recipient.id,
    activityUri: activity.id,
    activity,
    inboxUrl: inbox.url,
    personalInbox: inbox.personal,
    status: "pending",
    nextAttemptAt: new Date(),
  });
  return { id, type: activity.type, inboxUrl: inbox.url, messageId };
}

async function cancelPending(tx: Transaction, messageId: string, types: string[], reason: string) {
  await tx
    .update(deliveries)
    .set({ status: "failed", lastError: reason, nextAttemptAt: null, updatedAt: new Date() })
    .where(
      and(eq(deliveries.messageId, messageId), eq(deliveries.status, "pending"), inArray(sql`${deliveries.activity}->>'type'`, types)),
    );
}

/** Job options of a delivery: the retry schedule is the worker's (policy.ts); BullMQ's own retries only cover crashes of the processor (database down, say). */
export function deliveryJobOptions(id: string, delay = 0): JobsOptions {
  return {
    jobId: id,
    delay,
    attempts: 8,
    backoff: { type: "exponential", delay: 5_000 },
    removeOnComplete: true,
    removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
  };
}

/** How long a request waits for the queue after its commit; beyond, the reconciler takes over. */
const ENQUEUE_WAIT_MS = 2_000;

/**
 * Adds the jobs of committed deliveries. A failure here loses nothing: the rows are pending and
 * the reconciler adds their jobs later. So a queue that is down or slow (ioredis queues commands
 * while Redis is away) neither fails nor holds the client's request: the message is stored.
 */
export async function enqueueDeliveries(queue: DeliverQueue | undefined, refs: DeliveryJobRef[]): Promise<void> {
  if (!queue || refs.length === 0) return;
  const added = Promise.all(
    refs.map((ref) => {
      const job = deliveryJob(ref);
      return queue.add(job.name, job.data, deliveryJobOptions(ref.id));
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ENQUEUE_WAIT_MS);
  });
  await Promise.race([added.catch(() => {}), waited]);
  clearTimeout(timer);
}

/**
 * The sender's view of a message's delivery (`parley.delivery`, docs/federation.md), as a correlated
 * subquery of the message's row: pending while any copy is, else failed if any failed.
 * Null when the message was not sent to another server.
 */
export function deliveryStatusSql(message: { id: AnyPgColumn; activityUri: AnyPgColumn }): SQL<"pending" | "delivered" | "failed" | null> {
  return sql<"pending" | "delivered" | "failed" | null>`(SELECT CASE
      WHEN bool_or(d.status = 'pending') THEN 'pending'
      WHEN bool_or(d.status = 'failed') THEN 'failed'
      WHEN bool_and(d.status = 'delivered') THEN 'delivered' END
    FROM ${deliveries} d WHERE d.message_id = ${message.id} AND d.activity_uri = ${message.activityUri})`;
}

/** Writes the delivery of a change, if there is one to write; says whether it did. */
export type Federate = (change: FederatedChange, messageId: string) => Promise<boolean>;

/**
 * Runs a write in a transaction whose `federate(change, messageId)` calls write delivery rows;
 * their jobs are added after commit (a job never runs before its row is visible).
 */
export async function withDeliveries<T>(
  db: Database,
  publicUrl: string,
  queue: DeliverQueue | undefined,
  work: (tx: Transaction, federate: Federate) => Promise<T>,
): Promise<T> {
  const refs: DeliveryJobRef[] = [];
  const result = await db.transaction((tx) =>
    work(tx, async (change, messageId) => {
      const ref = await federateMessage(tx, publicUrl, change, messageId);
      if (ref) refs.push(ref);
      return ref !== null;
    }),
  );
  await enqueueDeliveries(queue, refs);
  return result;
}
