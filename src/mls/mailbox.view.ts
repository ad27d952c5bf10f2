import { and, asc, count, desc, eq, gt, lt, or, type SQL } from "drizzle-orm";
import type { Executor } from "../db/database.js";
import { accounts, mlsMailbox, mlsObjects } from "../db/schema/index.js";

/**
 * Reads of an owner's MLS mailbox (`mls_mailbox` joined to `mls_objects`), by the owner's own
 * sequence number: the `messages` collection, the JSON endpoint of the local API and the
 * `parley:mls_message` streaming event all show the same rows. Nothing here looks inside `content`.
 */

export interface MailboxRow {
  seq: number;
  notify: boolean;
  createdAt: Date;
  uri: string;
  activityUri: string;
  type: string;
  groupId: string | null;
  epoch: string | null;
  contentType: string | null;
  activity: unknown;
  senderUri: string;
}

/** One mailbox entry as the local API and the streaming event show it. */
export interface MailboxItem {
  seq: number;
  /** The MLS object's id. */
  id: string;
  /** The id of the Create that carried it. */
  activity_id: string;
  type: string;
  /** The sending actor's id. */
  sender: string;
  group_id: string | null;
  epoch: string | null;
  content_type: string | null;
  created_at: string;
  /** The MLS object as sent or received (`content` untouched). */
  object: unknown;
}

const columns = {
  seq: mlsMailbox.seq,
  notify: mlsMailbox.notify,
  createdAt: mlsMailbox.createdAt,
  uri: mlsObjects.uri,
  activityUri: mlsObjects.activityUri,
  type: mlsObjects.type,
  groupId: mlsObjects.groupId,
  epoch: mlsObjects.epoch,
  contentType: mlsObjects.contentType,
  activity: mlsObjects.activity,
  senderUri: accounts.uri,
};

function selectMailbox(db: Executor, where: SQL | undefined) {
  return db
    .select(columns)
    .from(mlsMailbox)
    .innerJoin(mlsObjects, eq(mlsObjects.id, mlsMailbox.objectId))
    .innerJoin(accounts, eq(accounts.id, mlsObjects.senderId))
    .where(where);
}

export interface MailboxPage {
  /** Only entries with a greater seq (exclusive). */
  afterSeq?: number;
  /** Only entries with a smaller seq (exclusive). */
  beforeSeq?: number;
  limit: number;
  /** "asc": the oldest entries after `afterSeq` first; "desc": the newest before `beforeSeq` first. */
  order: "asc" | "desc";
}

export async function mailboxEntries(db: Executor, ownerId: string, page: MailboxPage): Promise<MailboxRow[]> {
  const where = and(
    eq(mlsMailbox.ownerId, ownerId),
    page.afterSeq !== undefined ? gt(mlsMailbox.seq, page.afterSeq) : undefined,
    page.beforeSeq !== undefined ? lt(mlsMailbox.seq, page.beforeSeq) : undefined,
  );
  return selectMailbox(db, where)
    .orderBy(page.order === "asc" ? asc(mlsMailbox.seq) : desc(mlsMailbox.seq))
    .limit(page.limit);
}

/** One entry of the owner's mailbox, by its seq. */
export async function mailboxEntry(db: Executor, ownerId: string, seq: number): Promise<MailboxRow | undefined> {
  const [row] = await selectMailbox(db, and(eq(mlsMailbox.ownerId, ownerId), eq(mlsMailbox.seq, seq)));
  return row;
}

export async function mailboxSize(db: Executor, ownerId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(mlsMailbox).where(eq(mlsMailbox.ownerId, ownerId));
  return row?.n ?? 0;
}

/** Whether the owner holds an entry older than `seq`. */
export async function hasEntryBefore(db: Executor, ownerId: string, seq: number): Promise<boolean> {
  const [row] = await db
    .select({ seq: mlsMailbox.seq })
    .from(mlsMailbox)
    .where(and(eq(mlsMailbox.ownerId, ownerId), lt(mlsMailbox.seq, seq)))
    .limit(1);
  return row !== undefined;
}

/** The seq of the owner's entry whose object or activity has this id; undefined when the owner holds none. */
export async function mailboxSeqOf(db: Executor, ownerId: string, id: string): Promise<number | undefined> {
  const [row] = await db
    .select({ seq: mlsMailbox.seq })
    .from(mlsMailbox)
    .innerJoin(mlsObjects, eq(mlsObjects.id, mlsMailbox.objectId))
    .where(and(eq(mlsMailbox.ownerId, ownerId), or(eq(mlsObjects.uri, id), eq(mlsObjects.activityUri, id))))
    .limit(1);
  return row?.seq;
}

const objectOf = (activity: unknown): unknown =>
  typeof activity === "object" && activity !== null ? ((activity as Record<string, unknown>).object ?? null) : null;

export function renderMailboxItem(row: MailboxRow): MailboxItem {
  return {
    seq: row.seq,
    id: row.uri,
    activity_id: row.activityUri,
    type: row.type,
    sender: row.senderUri,
    group_id: row.groupId,
    epoch: row.epoch,
    content_type: row.contentType,
    created_at: row.createdAt.toISOString(),
    object: objectOf(row.activity),
  };
}

/** Page sizes of the mailbox reads: `limit` defaults to 20; above 100 it is clamped, below 1 refused. */
export const MAILBOX_DEFAULT_LIMIT = 20;
export const MAILBOX_MAX_LIMIT = 100;
