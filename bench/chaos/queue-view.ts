import type { Queue } from "bullmq";
import { QUEUE_NAMES, queueBackend } from "../../src/queues/queues.js";
import type { ParleyProcesses } from "../lib/parley-processes.js";
import type { QueueBackend } from "../types.js";
import type { Side } from "./types.js";

export interface QueueView {
  queues: Queue[];
  close(): Promise<void>;
}

/** The instance's BullMQ queues, seen from here (Redis or the PostgreSQL backend, directly). */
export async function openQueueView(p: ParleyProcesses, queue: QueueBackend, redisUrl: string): Promise<QueueView> {
  const backend = queueBackend({ redisUrl: queue === "redis" ? redisUrl : undefined, databaseUrl: p.databaseUrl, prefix: p.queuePrefix });
  // PostgreSQL backend: one connection per queue, not the service's three (the shared server has 100 in all).
  const connection = () =>
    queue === "postgres"
      ? ({ connectionString: p.databaseUrl, migrate: false, max: 1 } as unknown as ReturnType<typeof backend.connection>)
      : backend.connection();
  const queues = Object.values(QUEUE_NAMES).map((name) => new backend.Queue(name, { connection: connection(), prefix: backend.prefix }));
  await Promise.all(queues.map((q) => q.waitUntilReady()));
  return {
    queues,
    async close() {
      await Promise.all(queues.map((q) => q.close()));
      await backend.close();
    },
  };
}

const SCHEDULED = new Set(["reconcile", "purge-expired"]);

/**
 * Jobs of messages (not the schedulers' repeating jobs): `left` = waiting, running, delayed, or
 * failed while their row (deliveries / inbox_activities, job id = row id) is not done: stuck work.
 * `failedDone` = failed jobs whose row was done anyway (by a re-added job or a batch): history
 * that BullMQ keeps (removeOnFail), nothing to do, but visible on /admin/queues.
 */
export async function jobsLeft(
  view: QueueView,
  db: ParleyProcesses["sql"],
): Promise<{ left: number; failedDone: number; schedulerFailed: number; detail: string[] }> {
  let left = 0;
  let failedDone = 0;
  let schedulerFailed = 0;
  const detail: string[] = [];
  for (const queue of view.queues) {
    const jobs = await queue.getJobs(["waiting", "active", "delayed", "failed", "prioritized", "waiting-children"], 0, 10_000);
    for (const job of jobs) {
      if (!job) continue;
      const failed = Boolean(job.finishedOn && job.failedReason);
      if (SCHEDULED.has(job.name)) {
        if (failed) schedulerFailed++;
        continue;
      }
      if (failed) {
        const [row] = await db<{ status: string }[]>`
          SELECT status FROM deliveries WHERE id = ${String(job.id)} UNION ALL SELECT status FROM inbox_activities WHERE id = ${String(job.id)}`;
        if (row && row.status !== "pending") {
          failedDone++;
          // A failed row is reported as such (the down receiver's are expected): no detail here.
          if (row.status !== "failed" && detail.length < 10)
            detail.push(`${queue.name}/${job.id} ${job.name} failed (row ${row.status}): ${job.failedReason}`);
          continue;
        }
      }
      left++;
      if (detail.length < 10)
        detail.push(`${queue.name}/${job.id} ${job.name} ${failed ? "failed" : await job.getState()} ${job.failedReason ?? ""}`);
    }
  }
  return { left, failedDone, schedulerFailed, detail };
}

export async function pendingState(side: Side, view: QueueView) {
  const [row] = await side.p.sql<{ d: number; i: number }[]>`SELECT
    (SELECT count(*) FROM deliveries WHERE status = 'pending')::int AS d,
    (SELECT count(*) FROM inbox_activities WHERE status = 'pending')::int AS i`;
  const jobs = await jobsLeft(view, side.p.sql).catch(() => ({ left: -1, failedDone: -1 }));
  return { deliveriesPending: row.d, inboxPending: row.i, jobsLeft: jobs.left, failedJobsRowDone: jobs.failedDone };
}

/** Distinct tags arrived on the receivers (remote messages), both sides together. */
export async function arrivedCount(sides: Side[], runId: string, tagRe: RegExp): Promise<number> {
  let total = 0;
  for (const side of sides) {
    const [row] = await side.p.sql<{ n: number }[]>`SELECT count(DISTINCT substring(content FROM ${tagRe.source}))::int AS n
      FROM messages WHERE NOT local AND content LIKE ${`%c${runId}-%`}`;
    total += row.n;
  }
  return total;
}
