import { and, eq, type SQL } from "drizzle-orm";
import type { Executor } from "../db/database.js";
import { accounts, mlsMailbox, mlsObjects } from "../db/schema/index.js";

/**
 * One entry of an owner's MLS mailbox as the `parley:mls_message` event carries it, which is also
 * one item of `GET /api/v1/parley/mls/messages` (src/mls/mailbox.routes.ts). It lives here, reading
 * the tables directly, so that src/mls can publish events without the two folders importing each
 * other.
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

export function selectMailbox(db: Executor, where: SQL | undefined) {
  return db
    .select(columns)
    .from(mlsMailbox)
    .innerJoin(mlsObjects, eq(mlsObjects.id, mlsMailbox.objectId))
    .innerJoin(accounts, eq(accounts.id, mlsObjects.senderId))
    .where(where);
}

/** One entry of the owner's mailbox, by its seq. */
export async function mailboxEntry(db: Executor, ownerId: string, seq: number): Promise<MailboxRow | undefined> {
  const [row] = await selectMailbox(db, and(eq(mlsMailbox.ownerId, ownerId), eq(mlsMailbox.seq, seq)));
  return row;
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
