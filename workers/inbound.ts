import { DelayedError, type Job, UnrecoverableError } from "bullmq";
import { PermanentApplyError } from "../src/federation/inbox/apply/context.js";
import { inboundBatcher } from "../src/federation/inbox/batcher.js";
import { HostBusy, HostShare } from "../src/federation/inbox/host-share.js";
import { reconcileInbound } from "../src/federation/inbox/store.js";
import type { Deps } from "../src/shared/deps.js";

/**
 * The BullMQ processor of the inbound queue. An `apply` job (job id = inbox_activities row id)
 * applies its row (src/federation/inbox/apply-activities.ts, gathered with the other jobs of the
 * moment by batcher.ts); the scheduled `reconcile` job re-enqueues pending rows whose job went
 * missing (a Redis loss, say). Only the job plumbing lives here: what each activity means is in
 * src/federation/inbox/handlers.ts and apply/.
 */

type InboundDeps = Pick<Deps, "db" | "config" | "logger" | "queues">;

export const RECONCILE_EVERY_MS = 30_000;

/** The reconciler's job scheduler on the inbound queue (kept in place by startWorkers). */
export function inboundSchedules() {
  return [{ id: "inbound-reconcile", every: RECONCILE_EVERY_MS, name: "reconcile" }];
}

export function inboundProcessor(deps: InboundDeps) {
  // This process's share per remote host (see host-share.ts): INBOUND_MAX_PER_HOST of its
  // INBOUND_CONCURRENCY slots at most may wait on one host's network.
  const share = new HostShare({ maxPerHost: deps.config.inboundMaxPerHost, fetchTimeoutMs: deps.config.remoteFetchTimeoutMs });
  const apply = inboundBatcher(deps, share);
  return async (job: Job, token?: string) => {
    if (job.name === "reconcile") return { reenqueued: await reconcileInbound(deps) };
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    // The job completes only once its row's transaction has committed: a crash before that leaves
    // the job to run again, and the row (still pending) says there is something to do.
    try {
      return await apply({ id: job.id!, lastAttempt });
    } catch (error) {
      // Its row is marked failed already: no retry.
      if (error instanceof PermanentApplyError) throw new UnrecoverableError(error.message);
      if (!(error instanceof HostBusy)) throw error;
      // Its host's share is taken or cooling down: back to the queue for a moment, its slot freed
      // for other hosts; BullMQ does not count a DelayedError as an attempt.
      deps.logger.debug({ inboxActivity: job.id, host: error.host, why: error.why }, "inbound: host busy; later");
      await job.moveToDelayed(Math.round(error.retryAt), token);
      throw new DelayedError();
    }
  };
}
