import { DelayedError, type Job } from "bullmq";
import { type LinkCardJob, runLinkCardJob } from "../src/link-cards/link-cards.js";
import type { Deps } from "../src/shared/deps.js";

/** While another job fetches the same URL, a job looks again this often (ms). */
const WAIT_MS = 1_000;

/**
 * Link preview cards (src/link-cards/link-cards.ts): one job per message with a link. A job whose
 * URL another job is fetching waits for it (delayed, not a failed attempt), so that its message is
 * streamed once the card is there.
 */
export function linkCardsProcessor(deps: Deps) {
  return async (job: Job<LinkCardJob>, token?: string) => {
    const outcome = await runLinkCardJob(deps, job.data);
    if (outcome === "waiting") {
      await job.moveToDelayed(Date.now() + WAIT_MS, token);
      throw new DelayedError();
    }
    return outcome;
  };
}

/** A fetch is mostly waiting on the network; each is capped at 5 s and 512 KiB. */
export function linkCardsWorkerOptions() {
  return { concurrency: 10 };
}
