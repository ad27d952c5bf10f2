import { and, eq, inArray, sql } from "drizzle-orm";
import type { AccountRow } from "../accounts/account.view.js";
import type { Transaction } from "../db/database.js";
import { blocks, mlsGroupMembers, mlsGroups, mlsMailbox, mlsObjects, mlsSequences, mutes, notifications } from "../db/schema/index.js";
import { DomainError } from "../shared/errors.js";
import { newId } from "../shared/ids.js";
import { publishNotification } from "../streaming/events.js";
import type { Envelope } from "./envelope.js";
import type { Framing } from "./framing.js";
import { consumeKeyPackages } from "./key-packages.service.js";

/**
 * Storing an MLS object, from a local client (the outbox) or from a remote server (the inbox):
 * one `mls_objects` row, one `mls_mailbox` row per local recipient (the next number of that owner's
 * sequence, so clients read their `messages` in the order Parley stored them), and what the clear
 * header tells about the group. Content is stored as received, never read beyond the framing.
 *
 * Block rules: a Welcome from an actor the recipient blocks is dropped for that recipient (no new
 * group with someone you blocked); any other object from them is stored without notification (the
 * group's state needs it). A Welcome delivered to its recipient uses up the KeyPackages it names.
 * Every other row gets a `parley:mls_message` notification, as a chat message gets its
 * `pleroma:chat_mention` (src/chats/chat-timeline.ts): none for one's own object, born seen when the
 * owner mutes the sender.
 */

export interface StoreMlsObject {
  /** The row id, when the caller already named the object after it (the outbox does). */
  id?: string;
  sender: AccountRow;
  objectUri: string;
  activityUri: string;
  /** The Create as sent or received. */
  activity: Record<string, unknown>;
  envelope: Envelope;
  framing: Framing;
  /** The accounts named in `to`, local and remote; only local ones get a mailbox row. */
  recipients: AccountRow[];
}

export interface MailboxDelivery {
  ownerId: string;
  seq: number;
  notify: boolean;
}

export type StoredMlsObject =
  | { stored: true; objectId: string; mailbox: MailboxDelivery[]; dropped: string[] }
  | { stored: false; existingId: string };

/** Serialises the Commits of one (group, epoch) across every process, for the length of the transaction. */
async function lockEpoch(tx: Transaction, groupId: string, epoch: string): Promise<void> {
  await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`mls-commit:${groupId}:${epoch}`}, 0))`);
}

/**
 * The Commit gate of the outbox: a second Commit for a (group, epoch) Parley already holds — sent
 * by a local member, or received addressed to this sender — is refused with 409 naming the first.
 * Exactly one Commit per epoch for groups whose members all live here; across servers it narrows
 * forks. Inbound Commits are never refused or reordered (members would diverge).
 */
export async function gateCommit(tx: Transaction, sender: AccountRow, framing: Framing): Promise<void> {
  if (!("contentType" in framing) || framing.contentType !== "commit") return;
  await lockEpoch(tx, framing.groupId, framing.epoch);
  const [first] = await tx
    .select({ uri: mlsObjects.uri })
    .from(mlsObjects)
    .where(
      and(
        eq(mlsObjects.groupId, framing.groupId),
        eq(mlsObjects.epoch, framing.epoch),
        eq(mlsObjects.contentType, "commit"),
        sql`(${mlsObjects.local} OR ${sender.uri} = ANY(${mlsObjects.recipients}))`,
      ),
    )
    .orderBy(mlsObjects.createdAt)
    .limit(1);
  if (first) {
    throw new DomainError("conflict", "commit_conflict", { group_id: framing.groupId, epoch: framing.epoch, first: first.uri });
  }
}

/** The next number of `ownerId`'s mailbox (the row lock serialises one owner's deliveries). */
async function nextSeq(tx: Transaction, ownerId: string): Promise<number> {
  const [row] = await tx
    .insert(mlsSequences)
    .values({ ownerId, lastSeq: 1 })
    .onConflictDoUpdate({ target: mlsSequences.ownerId, set: { lastSeq: sql`${mlsSequences.lastSeq} + 1` } })
    .returning({ seq: mlsSequences.lastSeq });
  return row.seq;
}

export async function storeMlsObject(tx: Transaction, input: StoreMlsObject): Promise<StoredMlsObject> {
  const { sender, framing } = input;
  const id = input.id ?? newId();
  const groupId = "groupId" in framing ? framing.groupId : null;
  const epoch = "epoch" in framing ? framing.epoch : null;
  const recipientUris = input.envelope.recipients;
  const [inserted] = await tx
    .insert(mlsObjects)
    .values({
      id,
      uri: input.objectUri,
      activityUri: input.activityUri,
      senderId: sender.id,
      local: sender.domain === null,
      type: input.envelope.type as "PrivateMessage" | "PublicMessage" | "Welcome" | "GroupInfo",
      wireFormat: framing.wireFormat,
      groupId,
      epoch,
      contentType: "contentType" in framing ? framing.contentType : null,
      typeMismatch: framing.typeMismatch,
      recipients: recipientUris,
      activity: input.activity,
      size: input.envelope.bytes.byteLength,
    })
    .onConflictDoNothing()
    .returning({ id: mlsObjects.id });
  if (!inserted) {
    const [existing] = await tx.select({ id: mlsObjects.id }).from(mlsObjects).where(eq(mlsObjects.uri, input.objectUri));
    return { stored: false, existingId: existing?.id ?? "" };
  }

  const locals = input.recipients.filter((r) => r.domain === null && !r.deletedAt);
  const blockers = await blockersOf(
    tx,
    locals.map((r) => r.id),
    sender.id,
  );
  const mailbox: MailboxDelivery[] = [];
  const dropped: string[] = [];
  for (const owner of locals) {
    const blocked = blockers.has(owner.id);
    if (blocked && framing.kind === "Welcome") {
      dropped.push(owner.id);
      continue;
    }
    const seq = await nextSeq(tx, owner.id);
    await tx.insert(mlsMailbox).values({ ownerId: owner.id, seq, objectId: id, notify: !blocked });
    mailbox.push({ ownerId: owner.id, seq, notify: !blocked });
    if (!blocked && owner.id !== sender.id) await notifyOwner(tx, owner.id, sender.id, id);
    if (framing.kind === "Welcome") await consumeKeyPackages(tx, owner.id, framing.newMembers);
  }
  if (groupId !== null) await noteGroup(tx, groupId, epoch, [sender, ...input.recipients]);
  return { stored: true, objectId: id, mailbox, dropped };
}

/**
 * The owner's notification of a new mailbox entry that notifies, streamed on commit unless born
 * seen (Pleroma does not stream a muted sender's notifications either).
 */
async function notifyOwner(tx: Transaction, ownerId: string, senderId: string, objectId: string): Promise<void> {
  const [notification] = await tx
    .insert(notifications)
    .values({
      id: newId(),
      accountId: ownerId,
      type: "parley:mls_message",
      fromAccountId: senderId,
      mlsObjectId: objectId,
      seen: sql`EXISTS (SELECT 1 FROM ${mutes} WHERE ${mutes.accountId} = ${ownerId} AND ${mutes.targetAccountId} = ${senderId})`,
    })
    .returning({ id: notifications.id, seen: notifications.seen });
  if (!notification.seen) await publishNotification(tx, ownerId, notification.id);
}

/** Which of `ownerIds` block `senderId`. */
async function blockersOf(tx: Transaction, ownerIds: string[], senderId: string): Promise<Set<string>> {
  if (ownerIds.length === 0) return new Set();
  const rows = await tx
    .select({ id: blocks.accountId })
    .from(blocks)
    .where(and(inArray(blocks.accountId, ownerIds), eq(blocks.targetAccountId, senderId)));
  return new Set(rows.map((row) => row.id));
}

/** The group as far as Parley sees it: its latest epoch, its object count, who sent or was addressed. */
async function noteGroup(tx: Transaction, groupId: string, epoch: string | null, members: AccountRow[]): Promise<void> {
  await tx
    .insert(mlsGroups)
    .values({ groupId, lastEpoch: epoch, objects: 1 })
    .onConflictDoUpdate({
      target: mlsGroups.groupId,
      set: {
        lastEpoch: sql`greatest(${mlsGroups.lastEpoch}, excluded.last_epoch)`,
        objects: sql`${mlsGroups.objects} + 1`,
        lastObjectAt: sql`now()`,
      },
    });
  const unique = [...new Map(members.map((m) => [m.id, m])).values()];
  await tx
    .insert(mlsGroupMembers)
    .values(unique.map((m) => ({ groupId, accountId: m.id })))
    // Refreshed at most hourly: rewriting a hundred members' rows on every message left as many dead rows.
    .onConflictDoUpdate({
      target: [mlsGroupMembers.groupId, mlsGroupMembers.accountId],
      set: { lastSeenAt: sql`now()` },
      setWhere: sql`${mlsGroupMembers.lastSeenAt} < now() - interval '1 hour'`,
    });
}
