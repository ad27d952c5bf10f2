import type { Job, Worker, WorkerOptions } from "bullmq";
import type { QueueName } from "../src/queues/queues.js";
import { QUEUE_NAMES } from "../src/queues/queues.js";
import type { Deps } from "../src/shared/deps.js";
import { deliverProcessor, deliverSchedules, deliverWorkerOptions } from "./deliver.js";
import { housekeepingProcessor } from "./housekeeping.js";
import { inboundProcessor, inboundSchedules } from "./inbound.js";
import { linkCardsProcessor, linkCardsWorkerOptions } from "./link-cards.js";

export interface Workers {
  /**
   * Stops taking jobs and waits for the running ones, at most `boundMs`; past it, closes by force:
   * an unfinished job keeps its lock until it expires, then another worker runs it again (the
   * deliveries row, not the job, says what is done, so no job is lost).
   */
  close(boundMs?: number): Promise<void>;
}

interface ProcessorSpec {
  queue: QueueName;
  processor: (deps: Deps) => (job: Job) => Promise<unknown>;
  options: (deps: Deps) => Partial<WorkerOptions>;
  /** Repeating jobs of the queue (job schedulers), kept in place by startWorkers. */
  schedules?: (deps: Deps) => Schedule[];
}

interface Schedule {
  id: string;
  every: number;
  name: string;
}

const HOUSEKEEPING: Schedule = { id: "housekeeping", every: 10 * 60_000, name: "purge-expired" };

/**
 * How often each process checks that the job schedulers still exist (a Redis loss erases them, the
 * reconcilers with them: the chaos run saw lost jobs wait for this check). Three reads per check.
 */
const SCHEDULE_CHECK_MS = 15_000;

/** Every BullMQ processor of the service: one line each. */
const PROCESSORS: ProcessorSpec[] = [
  { queue: "housekeeping", processor: housekeepingProcessor, options: () => ({ concurrency: 1 }), schedules: () => [HOUSEKEEPING] },
  {
    queue: "inbound",
    processor: inboundProcessor,
    options: (deps) => ({ concurrency: deps.config.inboundConcurrency }),
    schedules: inboundSchedules,
  },
  { queue: "deliver", processor: deliverProcessor, options: deliverWorkerOptions, schedules: deliverSchedules },
  { queue: "linkCards", processor: linkCardsProcessor, options: linkCardsWorkerOptions },
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
  // One scheduler entry whatever the number of worker processes (upsert is idempotent). Checked
  // again every SCHEDULE_CHECK_MS (15 s): after a Redis loss they would otherwise be gone until the next restart.
  const schedules = PROCESSORS.flatMap((spec) =>
    (spec.schedules?.(deps) ?? []).map((schedule) => ({ queue: deps.queues[spec.queue], ...schedule })),
  );
  const upsert = (entry: (typeof schedules)[number]) =>
    entry.queue.upsertJobScheduler(
      entry.id,
      { every: entry.every },
      { name: entry.name, opts: { removeOnComplete: 100, removeOnFail: 100 } },
    );
  await Promise.all(schedules.map(upsert));
  const check = setInterval(() => {
    for (const entry of schedules) {
      entry.queue
        .getJobScheduler(entry.id)
        .then((found) =>
          found ? undefined : upsert(entry).then(() => deps.logger.warn({ scheduler: entry.id }, "job scheduler restored")),
        )
        .catch((error) => deps.logger.error({ err: error, scheduler: entry.id }, "job scheduler check failed"));
    }
  }, SCHEDULE_CHECK_MS);
  check.unref();
  return {
    close: async (boundMs = Infinity) => {
      clearInterval(check);
      // pause(): stop taking jobs and wait for the running ones; close() (forced past the bound:
      // BullMQ's close cannot be forced once a graceful one is under way).
      let timer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        Promise.all(workers.map((worker) => worker.pause())).then(() => true),
        new Promise<false>((resolve) => {
          if (Number.isFinite(boundMs)) timer = setTimeout(() => resolve(false), Math.max(0, boundMs));
        }),
      ]);
      clearTimeout(timer);
      if (!finished)
        deps.logger.warn({ boundMs }, "jobs still running at the shutdown bound: closing workers by force (their jobs will run again)");
      await Promise.all(workers.map((worker) => worker.close(!finished)));
    },
  };
}
