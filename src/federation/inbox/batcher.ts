import type { InboundDeps } from "./apply/context.js";
import { type ApplyOutcome, type Claim, INBOUND_BATCH_MAX, startInboxActivities } from "./apply-activities.js";
import type { HostShare } from "./host-share.js";

/** Batches of one process under way at once (one being written while the next is gathered). */
const INBOUND_BATCHES_IN_FLIGHT = 2;
/** How many ids of rows applied along (see batched-creates.ts) a process remembers. */
const APPLIED_ALONG_KEPT = 20_000;

/**
 * Gathers the jobs that run at the same time in this process (the worker's concurrency) into
 * batches for applyInboxActivities. Each job still settles on its own row's outcome.
 */
export function inboundBatcher(deps: InboundDeps, share: HostShare) {
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
