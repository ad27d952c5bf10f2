import { and, eq, inArray, sql } from "drizzle-orm";
import type { AccountRow } from "../../accounts/account.view.js";
import { inboxActivities } from "../../db/schema/index.js";
import { type LinkCardJob, linkCardRequests } from "../../link-cards/link-cards.js";
import { httpUrl, type Json } from "../as-json.js";
import { RemoteActorError, resolveRemoteActor } from "../remote-actors.js";
import { type InboundDeps, type InboxRow, PermanentApplyError } from "./apply/context.js";
import { applyCreates, type BatchedCreate, batchableCreate, cachedAuthors, compareIds } from "./batched-creates.js";
import { inboundActivityOf } from "./handlers.js";
import { HostBusy, type HostShare } from "./host-share.js";

/**
 * Applies accepted inbox activities (inbox_activities rows), each as if alone in its transaction,
 * then marks the row applied — or failed, with the error, when no retry will cure it or after the
 * last attempt. What each type means is its apply handler (handlers.ts, apply/*.ts).
 */

/** At most this many activities are applied in one transaction. */
export const INBOUND_BATCH_MAX = 100;
/** How long a job may go on applying further batches of pending Creates (see applyMore). */
const INBOUND_CONTINUE_MS = 250;

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

export interface Claim {
  id: string;
  lastAttempt: boolean;
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
export async function startInboxActivities(
  deps: InboundDeps,
  claims: Claim[],
  options: ApplyOptions = {},
): Promise<Promise<ApplyOutcome>[]> {
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
    rows.filter((row) => resolvesAuthor(row)).map((row) => row.actorUri),
  );
  for (const row of [...rows].sort((a, b) => compareIds(a.id, b.id))) {
    const create = batchableCreate(row, authors);
    if (create) creates.push(create);
    else alone.push(row);
  }
  const lastAttempt = new Map(claims.map((c) => [c.id, c.lastAttempt]));
  const bounced: { row: InboxRow; busy: HostBusy }[] = [];
  const applyAlone = (row: InboxRow) => {
    let lease: AuthorLease | undefined;
    if (options.share && resolvesAuthor(row) && !authors.has(httpUrl(row.actorUri)?.href ?? "")) {
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
    const activity = inboundActivityOf(payload);
    const author = activity?.resolvesAuthor ? await resolveAuthor(deps, row.actorUri, options.lease) : undefined;
    let result = "nothing";
    const links: LinkCardJob[] = [];
    await deps.db.transaction(async (tx) => {
      const [locked] = await tx
        .select({ id: inboxActivities.id })
        .from(inboxActivities)
        .where(and(eq(inboxActivities.id, id), eq(inboxActivities.status, "pending")))
        .for("update");
      if (!locked) return;
      result = activity ? await activity.apply({ deps, tx, row, payload, author, links }) : "unsupported";
      await tx.update(inboxActivities).set({ status: "applied", error: null, processedAt: sql`now()` }).where(eq(inboxActivities.id, id));
    });
    deps.logger.debug({ inboxActivity: id, activity: row.activityUri, result }, "inbound: applied");
    linkCardRequests(deps).request(links);
    return { status: "applied", result };
  } catch (error) {
    const permanent = error instanceof PermanentApplyError;
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
      throw new PermanentApplyError(`author ${actorUri}: ${error.code}: ${error.message}`);
    }
    // Retried with BullMQ's backoff; meanwhile the host's other jobs wait out a cooldown in the queue.
    if (error instanceof RemoteActorError && error.code === "timeout") lease?.share.timedOut(lease.host, startedAt);
    throw error;
  } finally {
    lease?.release();
  }
}

/** Whether the row's author is resolved (maybe fetched) before it is applied: a Create. */
function resolvesAuthor(row: InboxRow): boolean {
  return inboundActivityOf(row.payload as Json)?.resolvesAuthor ?? false;
}
