import type { Job, Worker, WorkerOptions } from "bullmq";
import type { QueueName } from "../src/queues/queues.js";
import { QUEUE_NAMES } from "../src/queues/queues.js";
import type { Deps } from "../src/shared/deps.js";
import { housekeepingProcessor } from "./housekeeping.js";

export interface Workers {
  close(): Promise<void>;
}

interface ProcessorSpec {
  queue: QueueName;
  processor: (deps: Deps) => (job: Job) => Promise<unknown>;
  options: (deps: Deps) => Partial<WorkerOptions>;
}

/** Every BullMQ processor of the service: one line each. */
const PROCESSORS: ProcessorSpec[] = [
  { queue: "housekeeping", processor: housekeepingProcessor, options: () => ({ concurrency: 1 }) },
];

/** Starts the BullMQ processors of this process (ROLE=worker or all). */
export async function startWorkers(deps: Deps): Promise<Workers> {
  const { backend } = deps.queues;
  const workers: Worker[] = PROCESSORS.map(
    (spec) =>
      new backend.Worker(QUEUE_NAMES[spec.queue], spec.processor(deps), {
        connection: backend.connection(),
        prefix: backend.prefix,
        ...spec.options(deps),
      }),
  );
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
