import type { Worker } from "bullmq";
import type { Deps } from "../src/shared/deps.js";
import { QUEUE_NAMES } from "../src/queues/queues.js";
import { housekeepingProcessor } from "./housekeeping.js";

export interface Workers {
  close(): Promise<void>;
}

/** Starts the BullMQ processors of this process (ROLE=worker or all). */
export async function startWorkers(deps: Deps): Promise<Workers> {
  const { backend } = deps.queues;
  const workers: Worker[] = [
    new backend.Worker(QUEUE_NAMES.housekeeping, housekeepingProcessor(deps), {
      connection: backend.connection(),
      prefix: backend.prefix,
      concurrency: 1,
    }),
  ];
  for (const worker of workers) {
    worker.on("error", (error) => deps.logger.error({ err: error, queue: worker.name }, "worker error"));
    worker.on("failed", (job, error) => deps.logger.warn({ err: error, queue: worker.name, job: job?.id }, "job failed"));
  }
  // One scheduler entry whatever the number of worker processes (upsert is idempotent).
  await deps.queues.housekeeping.upsertJobScheduler(
    "housekeeping",
    { every: 10 * 60_000 },
    { name: "purge-expired", opts: { removeOnComplete: 100, removeOnFail: 100 } },
  );
  return {
    close: async () => {
      await Promise.all(workers.map((worker) => worker.close()));
    },
  };
}
