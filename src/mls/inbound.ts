import { and, eq, inArray, isNull, or, sql } from "drizzle-orm";
import type { AccountRow } from "../accounts/account.view.js";
import type { Executor, Transaction } from "../db/database.js";
import { accounts, inboxActivities, mlsObjects } from "../db/schema/index.js";
import { httpUrl, idOf, type Json, sameUri } from "../federation/as-json.js";
import { type ApplyInput, PermanentApplyError } from "../federation/inbox/apply/context.js";
import { INBOUND_JOB_OPTIONS } from "../federation/inbox/store.js";
import type { Deps } from "../shared/deps.js";
import { publishMlsMessages } from "../streaming/events.js";
import { checkMlsObject, type INBOUND_MLS_REASONS, type MlsReason } from "./checks.js";
import { storeMlsObject } from "./mls-objects.service.js";
import { mlsTypeOf } from "./vocabulary.js";

/**
 * MLS objects arriving from remote servers (`Create` of a PrivateMessage, PublicMessage, Welcome
 * or GroupInfo): what the inbox checks before its 202 (checkInboundMlsCreate; the refusals answer
 * 422 `invalid_mls_object`, docs/federation.md) and what the inbound worker does with the stored
 * activity (applyInboundMls: one stored object, a mailbox row per local recipient, through
 * storeMlsObject, which applies the block rules and consumes the KeyPackages a Welcome names).
 * The object is read as the remote server wrote it, never JSON-LD expanded.
 */

export type InboundMlsReason = MlsReason | (typeof INBOUND_MLS_REASONS)[number];

export type InboundMlsVerdict =
  | { status: "accept"; objectUri: string }
  /** A KeyPackage: published and served by its owner's server only; acknowledged, nothing kept. */
  | { status: "ignore"; why: "key_package" }
  | { status: "refuse"; reason: InboundMlsReason; field: string; detail?: string };

const PUBLIC = new Set([
  "https://www.w3.org/ns/activitystreams#Public",
  "http://www.w3.org/ns/activitystreams#Public",
  "as:Public",
  "Public",
]);
const AUDIENCE = ["to", "cc", "bto", "bcc", "audience"] as const;

/** The activity's own addressing property naming the Public collection, if any. */
function publicAudienceOf(activity: Json): string | undefined {
  return AUDIENCE.find((field) => [activity[field]].flat().some((entry) => PUBLIC.has(idOf(entry) ?? "")));
}

/**
 * The live local accounts and the known remote ones among `uris` (normalised actor ids), in one
 * query. Remote actors Parley never met are left out: they get no mailbox here, and fetching them
 * would only serve the group's member list.
 */
export async function knownRecipients(db: Executor, uris: string[]): Promise<AccountRow[]> {
  if (uris.length === 0) return [];
  return db
    .select()
    .from(accounts)
    .where(and(inArray(accounts.uri, uris), or(sql`${accounts.domain} IS NOT NULL`, isNull(accounts.deletedAt))));
}

const isLocal = (account: AccountRow) => account.domain === null && account.deletedAt === null;

/**
 * The inbox's checks of a `Create` whose object is an MLS object, in order: one actor, the
 * verified one; a KeyPackage is acknowledged and ignored (before any costly check); an object id
 * on the actor's origin (the key of de-duplication); checkMlsObject (envelope, base64, size, framing); no Public audience on
 * the activity either; at least one live local account in the object's `to`.
 */
export async function checkInboundMlsCreate(db: Executor, activity: Json, actorUri: string): Promise<InboundMlsVerdict> {
  const refuse = (reason: InboundMlsReason, field: string, detail?: string): InboundMlsVerdict =>
    detail === undefined ? { status: "refuse", reason, field } : { status: "refuse", reason, field, detail };
  const object = activity.object as Json;
  const actors = [activity.actor].flat();
  if (actors.length !== 1 || !sameUri(idOf(actors[0]), actorUri)) return refuse("actor_mismatch", "actor");
  if (mlsTypeOf(object) === "KeyPackage") return { status: "ignore", why: "key_package" };
  const id = httpUrl(object.id);
  if (!id || id.origin !== httpUrl(actorUri)?.origin) return refuse("bad_object_id", "id", "an http(s) id on the actor's origin");
  const checked = await checkMlsObject(object, actorUri);
  if (!checked.ok) return refuse(checked.reason, checked.field, checked.detail);
  const audience = publicAudienceOf(activity);
  if (audience) return refuse("public_not_allowed", `activity.${audience}`);
  const recipients = await knownRecipients(db, checked.envelope.recipients);
  if (!recipients.some(isLocal)) return refuse("no_local_recipient", "to");
  return { status: "accept", objectUri: id.href };
}

/** Whether the object is stored already (through another activity, or this one applied). */
export async function isMlsObjectStored(db: Executor, objectUri: string): Promise<boolean> {
  const [row] = await db.select({ id: mlsObjects.id }).from(mlsObjects).where(eq(mlsObjects.uri, objectUri)).limit(1);
  return row !== undefined;
}

/** How long an object waits, inside its transaction, for the earlier objects of its sender. */
const ORDER_WAIT_MS = 2_000;
const ORDER_POLL_MS = 25;

/** An earlier MLS object of the same sender is accepted but not applied yet: retried after it. */
export class WaitingForEarlierMlsObject extends Error {
  override name = "WaitingForEarlierMlsObject";
}

class Release extends Error {}

/**
 * The first pending MLS activity of the same sender accepted before `row`, once no transaction
 * applies it (the query waits, at most lock_timeout, while one does). Inside a savepoint rolled
 * back at once: the share lock it takes on that row must not keep the row's own job from it.
 */
async function earlierPending(tx: Transaction, row: ApplyInput["row"]): Promise<string | undefined> {
  let found: string | undefined;
  try {
    await tx.transaction(async (savepoint) => {
      await savepoint.execute(sql`SET LOCAL lock_timeout = '1s'`);
      const rows = await savepoint
        .select({ id: inboxActivities.id })
        .from(inboxActivities)
        .where(
          and(
            eq(inboxActivities.status, "pending"),
            eq(inboxActivities.actorUri, row.actorUri),
            sql`${inboxActivities.id} < ${row.id}`,
            sql`lower(${inboxActivities.payload}->'object'->>'mediaType') LIKE 'message/mls%'`,
          ),
        )
        .orderBy(inboxActivities.id)
        .limit(1)
        .for("key share");
      found = rows[0]?.id;
      throw new Release();
    });
  } catch (error) {
    // 55P03: the earlier row's transaction outlasted lock_timeout; it is still pending.
    if (!(error instanceof Release) && (error as { code?: string }).code !== "55P03") throw error;
    if (!(error instanceof Release)) found = "busy";
  }
  return found;
}

/**
 * Inbound MLS objects of one sender are stored in the order the inbox accepted them (a Commit and
 * the messages of its new epoch, say), although the worker applies rows concurrently: an object
 * waits for the earlier ones of its sender, briefly here, then by a retry. On its last attempt it
 * is stored anyway: out of order rather than dropped. Returns whether the order held.
 */
async function waitForEarlierObjects(tx: Transaction, row: ApplyInput["row"]): Promise<boolean> {
  const deadline = Date.now() + ORDER_WAIT_MS;
  for (;;) {
    const earlier = await earlierPending(tx, row);
    if (earlier === undefined) return true;
    if (Date.now() >= deadline) {
      if (row.attempts >= (INBOUND_JOB_OPTIONS.attempts ?? 1)) return false;
      throw new WaitingForEarlierMlsObject(`an earlier MLS object of ${row.actorUri} (${earlier}) is not applied yet`);
    }
    await new Promise((resolve) => setTimeout(resolve, ORDER_POLL_MS));
  }
}

/**
 * Applies a stored `Create` of an MLS object: checked again (the row holds the raw JSON), stored
 * once for the live local accounts of its `to` with storeMlsObject. A duplicate (same object id)
 * changes nothing. Commits are never gated here: refusing or reordering a remote Commit would
 * split local members from remote ones.
 */
export async function applyInboundMls({ deps, tx, row, payload, author }: ApplyInput): Promise<string> {
  if (!author) throw new Error("an MLS Create is applied with its author resolved");
  if (!sameUri(author.uri, row.actorUri)) throw new PermanentApplyError(`resolved ${author.uri}, not ${row.actorUri}`);
  const object = payload.object as Json;
  const objectUri = httpUrl(object.id)?.href;
  const checked = await checkMlsObject(object, row.actorUri);
  if (!objectUri || !checked.ok || !("framing" in checked)) {
    throw new PermanentApplyError(`not an MLS message: ${checked.ok ? "no id" : checked.reason}`);
  }
  const inOrder = await waitForEarlierObjects(tx, row);
  const recipients = await knownRecipients(tx, checked.envelope.recipients);
  if (!recipients.some(isLocal)) return "recipient gone";
  const stored = await storeMlsObject(tx, {
    sender: author,
    objectUri,
    activityUri: row.activityUri,
    activity: payload,
    envelope: checked.envelope,
    framing: checked.framing,
    recipients,
  });
  if (!stored.stored) return "duplicate";
  // `parley:mls_message` on commit, for the rows with `notify` (a blocked sender's are not announced).
  await publishMlsMessages(tx, stored.mailbox);
  // The process's metrics ride on the deps the worker was started with (absent in some tests).
  (deps as Partial<Pick<Deps, "metrics">>).metrics?.mlsObject("in", checked.envelope.type, checked.framing.typeMismatch);
  if (!inOrder) deps.logger.warn({ inboxActivity: row.id, activity: row.activityUri }, "inbound: MLS object stored out of order");
  const dropped = stored.dropped.length > 0 ? `, Welcome dropped for ${stored.dropped.length} (blocked)` : "";
  return `stored for ${stored.mailbox.length}${dropped}${inOrder ? "" : " (out of order)"}`;
}
