import { DelayedError, type Job, UnrecoverableError } from "bullmq";
import { and, asc, eq, inArray, lt, notInArray, sql } from "drizzle-orm";
import type { AccountRow } from "../src/accounts/account.view.js";
import { isBlocked } from "../src/chats/chat.view.js";
import { firstLinkOf } from "../src/chats/compose.js";
import {
  deleteRemoteActor,
  editRemoteMessage,
  findMessageByUri,
  insertRemoteMessage,
  insertRemoteMessages,
  type RemoteMessageFields,
  restoreRemoteMessage,
  tombstoneRemoteMessage,
} from "../src/chats/remote-message.service.js";
import type { Transaction } from "../src/db/database.js";
import { accounts, blocks, inboxActivities } from "../src/db/schema/index.js";
import { httpUrl, idOf, isJsonObject, type Json, parsePublished, recipientsOf, sameUri, typesOf } from "../src/federation/as-json.js";
import { emojisOf, firstAttachment, sanitizedContent } from "../src/federation/inbox/chat-message-rules.js";
import { HostBusy, HostShare } from "../src/federation/inbox/host-share.js";
import { findLocalActor } from "../src/federation/inbox/inbox-context.js";
import { enqueueInbound, hasPendingCreate } from "../src/federation/inbox/store.js";
import { ACTOR_TTL_MS, RemoteActorError, resolveRemoteActor } from "../src/federation/remote-actors.js";
import { type LinkCardJob, linkCardRequests } from "../src/link-cards/link-cards.js";
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
const PERMANENT_ACTOR_ERRORS = new Set([
  "gone",
  "not_found",
  "not_an_actor",
  "id_mismatch",
  "invalid_actor",
  "invalid_url",
  "username_conflict",
]);

export const RECONCILE_EVERY_MS = 30_000;
/** A pending row younger than this may simply not have been picked up yet. */
export const RECONCILE_AFTER_MS = 60_000;

/** The reconciler's job scheduler on the inbound queue (kept in place by startWorkers). */
export function inboundSchedules() {
  return [{ id: "inbound-reconcile", every: RECONCILE_EVERY_MS, name: "reconcile" }];
}

/** At most this many activities are applied in one transaction. */
export const INBOUND_BATCH_MAX = 100;
/** Batches of one process under way at once (one being written while the next is gathered). */
const INBOUND_BATCHES_IN_FLIGHT = 2;
/** How many ids of rows applied along (see applyCreates) a process remembers. */
const APPLIED_ALONG_KEPT = 20_000;
/** How long a job may go on applying further batches of pending Creates (see applyMore). */
const INBOUND_CONTINUE_MS = 250;

export function inboundProcessor(deps: InboundDeps) {
  // This process's share per remote host (see host-share.ts): INBOUND_MAX_PER_HOST of its
  // INBOUND_CONCURRENCY slots at most may wait on one host's network.
  const share = new HostShare({ maxPerHost: deps.config.inboundMaxPerHost, fetchTimeoutMs: deps.config.remoteFetchTimeoutMs });
  const apply = batcher(deps, share);
  return async (job: Job, token?: string) => {
    if (job.name === "reconcile") return { reenqueued: await reconcileInbound(deps) };
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    // The job completes only once its row's transaction has committed: a crash before that leaves
    // the job to run again, and the row (still pending) says there is something to do.
    try {
      return await apply({ id: job.id!, lastAttempt });
    } catch (error) {
      if (!(error instanceof HostBusy)) throw error;
      // Its host's share is taken or cooling down: back to the queue for a moment, its slot freed
      // for other hosts; BullMQ does not count a DelayedError as an attempt.
      deps.logger.debug({ inboxActivity: job.id, host: error.host, why: error.why }, "inbound: host busy; later");
      await job.moveToDelayed(Math.round(error.retryAt), token);
      throw new DelayedError();
    }
  };
}

interface Claim {
  id: string;
  lastAttempt: boolean;
}

/**
 * Gathers the jobs that run at the same time in this process (the worker's concurrency) into
 * batches for applyInboxActivities. Each job still settles on its own row's outcome.
 */
function batcher(deps: InboundDeps, share: HostShare) {
  const waiting: { claim: Claim; resolve: (outcome: ApplyOutcome) => void; reject: (error: unknown) => void }[] = [];
  let inFlight = 0;
  let scheduled = false;
  // The last batch ran out of time with pending Creates left (see applyMore).
  let backlog = false;
  // Rows this process applied along with a batch (committed): their own jobs need no query.
  const appliedAlong = new Set<string>();
  const remember = (ids: string[]) => {
    for (const id of ids) appliedAlong.add(id);
    for (const id of appliedAlong) {
      if (appliedAlong.size <= APPLIED_ALONG_KEPT) break;
      appliedAlong.delete(id);
    }
  };
  const pump = () => {
    scheduled = false;
    while (inFlight < INBOUND_BATCHES_IN_FLIGHT && waiting.length > 0) {
      const batch = waiting.splice(0, INBOUND_BATCH_MAX);
      inFlight++;
      startInboxActivities(
        deps,
        batch.map((entry) => entry.claim),
        { pull: INBOUND_BATCH_MAX - batch.length, onAppliedAlong: remember, goOn: backlog, onBacklog: (left) => (backlog = left), share },
      )
        // The batch's place is free once its transaction is over: a row applied alone (an author to
        // fetch, say) settles its own job later, and must not hold up the next batches meanwhile.
        .then(
          (outcomes) => {
            for (const [i, outcome] of outcomes.entries()) outcome.then(batch[i].resolve, batch[i].reject);
          },
          (error) => {
            for (const entry of batch) entry.reject(error);
          },
        )
        .finally(() => {
          inFlight--;
          pump();
        });
    }
  };
  return (claim: Claim) =>
    new Promise<ApplyOutcome>((resolve, reject) => {
      // Applied already: nothing to do, unless the pending rows beyond it wait for a job to go on.
      if (appliedAlong.delete(claim.id) && !backlog) return resolve({ status: "skipped" });
      waiting.push({ claim, resolve, reject });
      if (!scheduled && inFlight < INBOUND_BATCHES_IN_FLIGHT) {
        scheduled = true;
        // The jobs BullMQ hands over in the same turn go together.
        setImmediate(pump);
      }
    });
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
  const [outcome] = await startInboxActivities(deps, [{ id, lastAttempt: options.lastAttempt }]);
  return outcome;
}

interface ApplyOptions {
  pull?: number;
  onAppliedAlong?: (ids: string[]) => void;
  goOn?: boolean;
  onBacklog?: (left: boolean) => void;
  /** The process's share per remote host; without it (tests), authors are fetched without limit. */
  share?: HostShare;
}

/**
 * Applies rows, each as if alone: its outcome, or the error BullMQ should retry it for. The
 * `Create{ChatMessage}` rows whose author is cached are applied together in one transaction (a
 * handful of statements whatever their number: see applyCreates); if that transaction fails, each
 * is applied again alone, as every other row is — one transaction per row — after the batch, so
 * that a Delete or Update sees the Creates of its batch. With `pull`, the batch also takes along up
 * to that many other pending Creates nobody holds (see applyCreates).
 */
export async function applyInboxActivities(
  deps: InboundDeps,
  claims: Claim[],
  options: ApplyOptions = {},
): Promise<PromiseSettledResult<ApplyOutcome>[]> {
  return Promise.allSettled(await startInboxActivities(deps, claims, options));
}

/**
 * applyInboxActivities, returning as soon as the batch transaction is over: one promise per claim,
 * those of rows applied alone still running. A Create whose author must be fetched takes a place of
 * its host's share first; refused, its outcome is HostBusy and its attempt is given back.
 */
async function startInboxActivities(deps: InboundDeps, claims: Claim[], options: ApplyOptions = {}): Promise<Promise<ApplyOutcome>[]> {
  // The attempt is counted before anything is tried (a crash mid-way counts), and read back.
  const rows = await deps.db
    .update(inboxActivities)
    .set({ attempts: sql`${inboxActivities.attempts} + 1` })
    .where(and(inArray(inboxActivities.id, [...new Set(claims.map((c) => c.id))]), eq(inboxActivities.status, "pending")))
    .returning();
  const byId = new Map(rows.map((row) => [row.id, row]));
  const outcomes = new Map<string, Promise<ApplyOutcome>>();
  const alone: InboxRow[] = [];
  const creates: BatchedCreate[] = [];
  const authors = await cachedAuthors(
    deps,
    rows.filter((row) => typesOf(row.payload as Json).includes("Create")).map((row) => row.actorUri),
  );
  for (const row of [...rows].sort((a, b) => compare(a.id, b.id))) {
    const create = batchableCreate(row, authors);
    if (create) creates.push(create);
    else alone.push(row);
  }
  const lastAttempt = new Map(claims.map((c) => [c.id, c.lastAttempt]));
  const bounced: { row: InboxRow; busy: HostBusy }[] = [];
  const applyAlone = (row: InboxRow) => {
    let lease: AuthorLease | undefined;
    if (options.share && typesOf(row.payload as Json).includes("Create") && !authors.has(httpUrl(row.actorUri)?.href ?? "")) {
      const host = httpUrl(row.actorUri)?.host;
      try {
        if (host) lease = { host, share: options.share, release: options.share.acquire(host) };
      } catch (error) {
        if (!(error instanceof HostBusy)) throw error;
        bounced.push({ row, busy: error });
        return;
      }
    }
    outcomes.set(row.id, applyClaimed(deps, row, { lastAttempt: lastAttempt.get(row.id) ?? false, lease }));
  };
  if (creates.length > 0) {
    try {
      const along: string[] = [];
      const links: LinkCardJob[] = [];
      const { results, saturated } = await deps.db.transaction((tx) => applyCreates(deps, tx, creates, options.pull ?? 0, along, links));
      // Committed.
      if (along.length > 0) options.onAppliedAlong?.(along);
      linkCardRequests(deps).request(links);
      creates.forEach((create, i) => {
        deps.logger.debug({ inboxActivity: create.row.id, activity: create.row.activityUri, result: results[i] }, "inbound: applied");
        outcomes.set(create.row.id, Promise.resolve({ status: "applied", result: results[i] }));
      });
      options.onBacklog?.(saturated || options.goOn ? await applyMore(deps, options) : false);
    } catch (error) {
      // Nothing of the batch was written: each row on its own, with its own errors and retries.
      deps.logger.warn({ err: error, rows: creates.length }, "inbound: batch failed; applying its activities one by one");
      for (const create of creates) applyAlone(create.row);
    }
  } else if (options.goOn) options.onBacklog?.(await applyMore(deps, options));
  for (const row of alone) applyAlone(row);
  if (bounced.length > 0) {
    // Not tried: the attempt counted above is given back (the row's `attempts` counts tries).
    const givenBack = deps.db
      .update(inboxActivities)
      .set({ attempts: sql`greatest(${inboxActivities.attempts} - 1, 0)` })
      .where(
        inArray(
          inboxActivities.id,
          bounced.map((b) => b.row.id),
        ),
      )
      .then(
        () => undefined,
        (error) => deps.logger.warn({ err: error }, "inbound: could not give back the attempts of rows put back"),
      );
    for (const { row, busy } of bounced)
      outcomes.set(
        row.id,
        givenBack.then(() => Promise.reject(busy)),
      );
  }
  const result = claims.map((claim) => (byId.has(claim.id) ? outcomes.get(claim.id)! : Promise.resolve({ status: "skipped" as const })));
  // Settled by their callers; never reported as unhandled meanwhile.
  for (const outcome of result) outcome.catch(() => {});
  return result;
}

/** A place of the author's host in the process's share, held while the author is resolved. */
interface AuthorLease {
  host: string;
  share: HostShare;
  release: () => void;
}

/**
 * More pending Creates were there than a batch took along: apply them in further batches of their
 * own for up to INBOUND_CONTINUE_MS, ahead of their jobs (which will find them applied), rather than
 * one batch per job. Inside the job that found them, so a shutdown waits for it. A failure only
 * stops it: those rows stay pending for their own jobs. Returns whether it stopped for time with
 * more to do: the next job of the process, even one whose row is applied already, goes on.
 */
async function applyMore(deps: InboundDeps, options: { onAppliedAlong?: (ids: string[]) => void }): Promise<boolean> {
  const until = performance.now() + INBOUND_CONTINUE_MS;
  while (performance.now() < until) {
    const along: string[] = [];
    const links: LinkCardJob[] = [];
    try {
      const { saturated } = await deps.db.transaction((tx) => applyCreates(deps, tx, [], INBOUND_BATCH_MAX, along, links));
      if (along.length > 0) options.onAppliedAlong?.(along);
      linkCardRequests(deps).request(links);
      if (!saturated) return false;
    } catch (error) {
      deps.logger.warn({ err: error }, "inbound: a batch of pending activities failed; their jobs will apply them");
      return false;
    }
  }
  // Out of time with more to do.
  return true;
}

/** Applies one claimed row (its attempt counted) in its own transaction; throws when it could not. */
async function applyClaimed(
  deps: InboundDeps,
  row: InboxRow,
  options: { lastAttempt: boolean; lease?: AuthorLease },
): Promise<ApplyOutcome> {
  const id = row.id;
  try {
    const payload = row.payload as Json;
    // Network first, outside the transaction: the author of a new message is resolved (cached a
    // day), within the host's share when a lease was taken.
    const author = typesOf(payload).includes("Create") ? await resolveAuthor(deps, row.actorUri, options.lease) : undefined;
    let result = "nothing";
    const links: LinkCardJob[] = [];
    await deps.db.transaction(async (tx) => {
      const [locked] = await tx
        .select({ id: inboxActivities.id })
        .from(inboxActivities)
        .where(and(eq(inboxActivities.id, id), eq(inboxActivities.status, "pending")))
        .for("update");
      if (!locked) return;
      result = await apply(deps, tx, row, payload, author, links);
      await tx.update(inboxActivities).set({ status: "applied", error: null, processedAt: sql`now()` }).where(eq(inboxActivities.id, id));
    });
    deps.logger.debug({ inboxActivity: id, activity: row.activityUri, result }, "inbound: applied");
    linkCardRequests(deps).request(links);
    return { status: "applied", result };
  } catch (error) {
    const permanent = error instanceof UnrecoverableError;
    if (permanent || options.lastAttempt) {
      await deps.db
        .update(inboxActivities)
        .set({ status: "failed", error: errorText(error), processedAt: sql`now()` })
        .where(and(eq(inboxActivities.id, id), eq(inboxActivities.status, "pending")));
    } else {
      await deps.db
        .update(inboxActivities)
        .set({ error: errorText(error) })
        .where(eq(inboxActivities.id, id));
    }
    throw error;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The cached remote actors among `actorUris` that resolveRemoteActor would return without a fetch
 * (fresh, not gone), by actor id, in one query; the others go through resolveRemoteActor.
 */
async function cachedAuthors(deps: InboundDeps, actorUris: string[]): Promise<Map<string, AccountRow>> {
  const uris = [...new Set(actorUris.map((uri) => httpUrl(uri)?.href).filter((uri): uri is string => uri !== undefined))];
  if (uris.length === 0) return new Map();
  const rows = await deps.db.select().from(accounts).where(inArray(accounts.uri, uris));
  return new Map(rows.filter(isFresh).map((a) => [a.uri, a]));
}

/** A remote actor resolveRemoteActor returns from its cache without a fetch. */
function isFresh(a: AccountRow): boolean {
  return a.domain !== null && a.goneAt === null && a.fetchedAt !== null && Date.now() - a.fetchedAt.getTime() < ACTOR_TTL_MS;
}

interface BatchedCreate {
  row: InboxRow;
  object: Json;
  author: AccountRow;
  recipientUri: string;
  published: Date;
  uri: string;
}

/** A Create whose author is cached and whose object passes the checks applyCreate makes; else undefined. */
function batchableCreate(row: InboxRow, authors: Map<string, AccountRow>): BatchedCreate | undefined {
  const payload = row.payload as Json;
  if (!typesOf(payload).includes("Create") || !isJsonObject(payload.object)) return undefined;
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
async function applyCreates(
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
  // Through the transaction, never the pool (see applyCreate).
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
  toInsert.sort((a, b) => compare(a.c.row.id, b.c.row.id));
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

function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.slice(0, 2_000);
}

async function resolveAuthor(deps: InboundDeps, actorUri: string, lease?: AuthorLease): Promise<AccountRow> {
  const startedAt = Date.now();
  try {
    const author = await resolveRemoteActor(deps, actorUri);
    lease?.share.answered(lease.host);
    return author;
  } catch (error) {
    if (error instanceof RemoteActorError && PERMANENT_ACTOR_ERRORS.has(error.code)) {
      throw new UnrecoverableError(`author ${actorUri}: ${error.code}: ${error.message}`);
    }
    // Retried with BullMQ's backoff; meanwhile the host's other jobs wait out a cooldown in the queue.
    if (error instanceof RemoteActorError && error.code === "timeout") lease?.share.timedOut(lease.host, startedAt);
    throw error;
  } finally {
    lease?.release();
  }
}

async function apply(
  deps: InboundDeps,
  tx: Transaction,
  row: InboxRow,
  payload: Json,
  author: AccountRow | undefined,
  links: LinkCardJob[],
): Promise<string> {
  const types = typesOf(payload);
  if (types.includes("Create")) return applyCreate(deps, tx, row, payload, author!, links);
  if (types.includes("Update")) return applyUpdate(tx, row, payload, links);
  if (types.includes("Delete")) return applyDelete(tx, row, payload);
  if (types.includes("Undo")) return applyUndo(tx, row, payload);
  return "unsupported";
}

/** The message columns a ChatMessage object carries (the inbox checked it already). */
function messageFields(object: Json): RemoteMessageFields {
  const attachment = firstAttachment(object);
  const content = sanitizedContent(object);
  return {
    content,
    linkUrl: firstLinkOf(content),
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

async function applyCreate(
  deps: InboundDeps,
  tx: Transaction,
  row: InboxRow,
  payload: Json,
  author: AccountRow,
  links: LinkCardJob[],
): Promise<string> {
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
  if (message.linkUrl) links.push({ url: message.linkUrl, messageId: message.id });
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

async function applyUpdate(tx: Transaction, row: InboxRow, payload: Json, links: LinkCardJob[]): Promise<string> {
  const object = payload.object as Json;
  const message = await ownMessage(tx, row, idOf(object));
  if (!message) return "unknown message";
  const editedAt = parsePublished(object.updated) ?? parsePublished(payload.published) ?? new Date();
  const fields = messageFields(object);
  // An edit without attachment keeps the one the message has (Lemmy never sends any).
  const changes: Partial<RemoteMessageFields> = fields.remoteAttachment
    ? fields
    : { content: fields.content, emojis: fields.emojis, linkUrl: fields.linkUrl };
  if (!(await editRemoteMessage(tx, message, changes, editedAt))) return "stale edit";
  if (fields.linkUrl) links.push({ url: fields.linkUrl, messageId: message.id });
  return "edited";
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
