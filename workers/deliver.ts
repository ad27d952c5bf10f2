import { randomUUID } from "node:crypto";
import { DelayedError, type Job, UnrecoverableError, type WorkerOptions } from "bullmq";
import { and, eq, sql } from "drizzle-orm";
import { deliveries } from "../src/db/schema/index.js";
import { domainBlockedSql } from "../src/federation/domain-blocks.js";
import { errorDetail, finishDelivered, recordFailure } from "../src/federation/outgoing/delivery-results.js";
import { acquireHostSlot, HOST_PAUSED, hostOf, recordHostFailure, releaseHostSlot } from "../src/federation/outgoing/hosts.js";
import {
  classifyError,
  classifyResponse,
  type DeliveryTuning,
  deliveryTuning,
  MAX_ATTEMPTS,
  type Outcome,
  retryDelay,
} from "../src/federation/outgoing/policy.js";
import { RECONCILE_JOB, RECONCILE_SCHEDULER_ID, reconcileDeliveries } from "../src/federation/outgoing/reconciler.js";
import { postActivity, signerOf } from "../src/federation/outgoing/sender.js";
import { deliveryReason } from "../src/ops/metrics.js";
import type { Deps } from "../src/shared/deps.js";

/**
 * The `deliver` queue: one job per `deliveries` row (job id = row id), plus the reconciler's
 * scheduled job. A delivery job: nothing to do unless the row is pending; waits (without counting
 * an attempt) while its host is paused or all its slots are taken; then signs and POSTs, records
 * the attempt on the row and either finishes (delivered / failed) or re-delays itself for the next
 * attempt (policy.ts has the schedule). The row's attempt count, not BullMQ's, drives the
 * schedule, so a job re-added after a Redis loss goes on where it was.
 */

type DeliveryRow = typeof deliveries.$inferSelect;

export function deliverWorkerOptions(deps: Deps): Partial<WorkerOptions> {
  const tuning = deliveryTuning(deps.deliveryTuning);
  return {
    concurrency: deps.config.deliveryConcurrency,
    lockDuration: tuning.lockDurationMs,
    stalledInterval: tuning.stalledIntervalMs,
  };
}

export function deliverSchedules(deps: Deps) {
  return [{ id: RECONCILE_SCHEDULER_ID, every: deliveryTuning(deps.deliveryTuning).reconcileEveryMs, name: RECONCILE_JOB }];
}

export function deliverProcessor(deps: Deps) {
  const tuning = deliveryTuning(deps.deliveryTuning);
  // Names this process's slot leases (a slot is released only by its holder).
  const processId = randomUUID();
  return async (job: Job, token?: string) => {
    if (job.name === RECONCILE_JOB) {
      const result = await reconcileDeliveries(deps, { graceMs: tuning.reconcileGraceMs });
      if (result.requeued || result.promoted) deps.logger.info(result, "deliveries reconciled");
      return result;
    }
    return deliver(deps, tuning, processId, job, token);
  };
}

/** Puts the job back to wait until `at`; BullMQ does not count it as a failed attempt. */
async function later(job: Job, token: string | undefined, at: number): Promise<never> {
  await job.moveToDelayed(Math.round(at), token);
  throw new DelayedError();
}

async function deliver(deps: Deps, tuning: DeliveryTuning, processId: string, job: Job, token: string | undefined) {
  const { db } = deps;
  const [row] = await db
    .select()
    .from(deliveries)
    .where(eq(deliveries.id, String(job.id)));
  if (row?.status !== "pending") return { skipped: row?.status ?? "missing" };
  const now = Date.now();
  // Early (a duplicate job, clocks apart): wait for the row's own time.
  if (row.nextAttemptAt && row.nextAttemptAt.getTime() > now + 1000) {
    return later(job, token, row.nextAttemptAt.getTime());
  }
  const host = hostOf(row.inboxUrl);
  if (!host) return refuseBeforeSending(deps, job, row, { kind: "permanent", error: `invalid inbox URL ${row.inboxUrl}`, gone: false });

  const [state] = await db.execute<{ paused_until: number | null; blocked: boolean }>(sql`
    SELECT (SELECT extract(epoch FROM paused_until) * 1000 FROM host_states WHERE host = ${host} AND paused_until > now())::float8 AS paused_until,
           ${domainBlockedSql(host)} AS blocked`);
  if (state.blocked) return refuseBeforeSending(deps, job, row, { kind: "permanent", error: "domain blocked by the admin", gone: false });
  if (state.paused_until) {
    const until = new Date(state.paused_until);
    await db
      .update(deliveries)
      .set({ nextAttemptAt: until, lastError: `${HOST_PAUSED} until ${until.toISOString()}`, updatedAt: new Date() })
      .where(eq(deliveries.id, row.id));
    // Spread the held deliveries over a minute after the pause, rather than all at its last second.
    return later(job, token, until.getTime() + Math.random() * 60_000);
  }

  const signer = await signerOf(db, row.senderId);
  if (!signer)
    return refuseBeforeSending(deps, job, row, { kind: "permanent", error: `no signing key for account ${row.senderId}`, gone: false });
  const holder = `${processId}/${row.id}`;
  const slot = await acquireHostSlot(db, host, deps.config.deliveryMaxPerHost, holder, tuning.slotLeaseMs);
  if (slot === null) return later(job, token, now + tuning.slotWaitMs * (0.5 + Math.random()));

  let outcome: Outcome;
  try {
    const response = await postActivity(row.inboxUrl, row.activity, signer, {
      allowPrivateAddress: deps.config.allowPrivateAddress,
      timeoutMs: tuning.requestTimeoutMs,
      connectTimeoutMs: tuning.connectTimeoutMs,
      userAgent: `Parley/0.1.0 (+${deps.config.publicUrl}/)`,
    });
    outcome = classifyResponse(response.status, response.headers, row.personalInbox);
    if (outcome.kind !== "delivered") outcome.error += errorDetail(response.body);
  } catch (error) {
    outcome = classifyError(error);
  }
  if (outcome.kind === "delivered") {
    deps.metrics?.deliveryAttempt("delivered", deliveryReason(outcome));
    void job.log(`attempt ${row.attempts + 1}: delivered (HTTP ${outcome.status})`).catch(() => {});
    await finishDelivered(db, row, host, slot, holder);
    return { delivered: true, attempts: row.attempts + 1 };
  }
  await releaseHostSlot(db, host, slot, holder);

  if (outcome.kind === "retry" && outcome.hostFailure) {
    const pausedUntil = await recordHostFailure(db, host, tuning);
    if (pausedUntil) deps.logger.warn({ host, pausedUntil }, "delivery host paused after repeated failures");
  }
  const attempts = row.attempts + 1;
  const gaveUp = outcome.kind === "retry" && (Date.now() - row.createdAt.getTime() >= tuning.horizonMs || attempts >= MAX_ATTEMPTS);
  // Metrics and the job's log and data (bull-board shows them): one entry per attempt. Not awaited:
  // the row, not the queue, records the attempt, and must not wait on a queue backend that is away.
  const counted = outcome.kind === "retry" && !gaveUp ? "retry" : "failed";
  deps.metrics?.deliveryAttempt(counted, deliveryReason(outcome));
  void job.log(`attempt ${attempts}: ${counted} — ${outcome.error}`).catch(() => {});
  void job.updateData({ ...job.data, attempts, lastError: outcome.error }).catch(() => {});
  if (outcome.kind !== "retry") return fail(deps, row, outcome);
  if (gaveUp) return fail(deps, row, { kind: "permanent", error: `gave up after ${attempts} attempts: ${outcome.error}`, gone: false });
  const delay =
    outcome.retryAfterMs !== undefined ? Math.min(Math.max(outcome.retryAfterMs, 1000), tuning.maxDelayMs) : retryDelay(attempts, tuning);
  const nextAt = Date.now() + delay;
  await db
    .update(deliveries)
    .set({ attempts: sql`${deliveries.attempts} + 1`, lastError: outcome.error, nextAttemptAt: new Date(nextAt), updatedAt: new Date() })
    .where(and(eq(deliveries.id, row.id), eq(deliveries.status, "pending")));
  deps.logger.info({ delivery: row.id, host, attempts, error: outcome.error, retryInMs: delay }, "delivery will be retried");
  return later(job, token, nextAt);
}

/** A delivery that cannot be attempted at all (no POST): counted as failed, then finished. */
async function refuseBeforeSending(deps: Deps, job: Job, row: DeliveryRow, outcome: Exclude<Outcome, { kind: "retry" | "delivered" }>) {
  deps.metrics?.deliveryAttempt("failed", deliveryReason(outcome));
  void job.log(`not sent: ${outcome.error}`).catch(() => {});
  return fail(deps, row, outcome);
}

/** The delivery failed for good: the row says so (and the account is gone on a 404/410), the job fails. */
async function fail(deps: Deps, row: DeliveryRow, outcome: Exclude<Outcome, { kind: "retry" | "delivered" }>): Promise<never> {
  await recordFailure(deps, row, outcome);
  throw new UnrecoverableError(outcome.error);
}
