import type postgres from "postgres";
import { INBOUND_JOB_OPTIONS } from "../../src/federation/inbox/store.js";
import { openQueues, queueBackend } from "../../src/queues/queues.js";
import { newId } from "../../src/shared/ids.js";
import { createLogger } from "../../src/shared/logger.js";
import { pleromaChatMessage } from "../../test/helpers/inbox.js";
import { api, createAccount, TEST_REDIS } from "../../test/helpers/parley.js";
import type { RemoteActor } from "../../test/helpers/remote.js";
import { startParleyProcesses } from "../lib/parley-processes.js";
import type { Bench, BenchResult } from "../types.js";

/**
 * inbound (goals in docs/benchmarks.md; issue 6 §2): accepted activities applied per second. N valid Pleroma
 * `Create{ChatMessage}` rows are written to inbox_activities as the inbox would (from cached remote
 * actors, so no actor fetch), their `inbound` jobs enqueued in bulk, and the clock runs from the
 * first enqueue until every row is `applied`; the messages are then checked through the API.
 * Parley runs as in production: a web process and a worker process (bench/lib/parley-processes.ts);
 * the bench only enqueues, on the same queue backend and prefix, and reads the worker's peak RSS.
 */

const N = Number(process.env.BENCH_INBOUND_N ?? 5_000);
const SENDERS = 50;
const TIMEOUT_MS = 180_000;

export const bench: Bench = {
  name: "inbound",
  async run(ctx) {
    const instance = await startParleyProcesses(ctx.queue);
    const sql = instance.sql;
    const backend = queueBackend({
      redisUrl: ctx.queue === "redis" ? TEST_REDIS : undefined,
      databaseUrl: instance.databaseUrl,
      prefix: instance.queuePrefix,
    });
    const queues = await openQueues(backend, createLogger("warn", process.stderr));
    try {
      const { account, token } = await createAccount(instance, "bench");
      const [{ uri: localUri }] = await sql`SELECT uri FROM accounts WHERE id = ${account.id}`;
      const actors: RemoteActor[] = Array.from({ length: SENDERS }, (_, k) => {
        const id = `https://r${k}.example/users/sender${k}`;
        return {
          username: `sender${k}`,
          id,
          keyId: `${id}#main-key`,
          inbox: `${id}/inbox`,
          publicKeyPem: "",
          privateKeyPem: "",
          document: {},
        };
      });
      // Cached, fresh remote actors: the worker resolves them without fetching.
      await sql`INSERT INTO accounts ${sql(
        actors.map((a) => ({
          id: newId(),
          username: a.username,
          domain: new URL(a.id).host,
          uri: a.id,
          inbox_url: a.inbox,
          accepts_chat_messages: true,
          software: "pleroma",
          fetched_at: new Date(),
        })),
      )}`;
      const rows = Array.from({ length: N }, (_, i) => {
        const actor = actors[i % SENDERS];
        const payload = pleromaChatMessage(actor, localUri as string, { content: `inbound bench ${i}` });
        return { id: newId(), activity_uri: payload.id as string, actor_uri: actor.id, recipient_id: account.id, payload };
      });
      for (let i = 0; i < rows.length; i += 1_000) {
        const batch = rows.slice(i, i + 1_000).map((r) => ({ ...r, payload: sql.json(r.payload as postgres.JSONValue) }));
        await sql`INSERT INTO inbox_activities ${sql(batch)}`;
      }
      const queue = queues.inbound;
      const started = performance.now();
      for (let i = 0; i < rows.length; i += 500) {
        await queue.addBulk(
          rows
            .slice(i, i + 500)
            .map((r) => ({ name: "apply", data: { inboxActivityId: r.id }, opts: { ...INBOUND_JOB_OPTIONS, jobId: r.id } })),
        );
      }
      const enqueued = performance.now() - started;
      ctx.log(`inbound: ${N} jobs enqueued in ${enqueued.toFixed(0)} ms`);
      let applied = 0;
      let failed = 0;
      while (performance.now() - started < TIMEOUT_MS) {
        const [counts] = await sql`SELECT count(*) FILTER (WHERE status = 'applied')::int AS applied,
          count(*) FILTER (WHERE status = 'failed')::int AS failed FROM inbox_activities`;
        applied = counts.applied as number;
        failed = counts.failed as number;
        if (applied + failed >= N) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const seconds = (performance.now() - started) / 1000;
      if (applied < N) {
        const errors = await sql`SELECT status, error, attempts FROM inbox_activities WHERE status <> 'applied' LIMIT 3`;
        ctx.log(`inbound: only ${applied}/${N} applied (${failed} failed) after ${seconds.toFixed(1)} s: ${JSON.stringify(errors)}`);
      }
      // The jobs of rows applied along with another's batch finish after their rows: until the queue is empty.
      while (performance.now() - started < TIMEOUT_MS) {
        const counts = await queue.getJobCounts("waiting", "active", "prioritized");
        if (counts.waiting + counts.active + counts.prioritized === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const drained = performance.now() - started;
      // A row applied along with another job's batch is never claimed by its own job (attempts 0).
      const [{ along }] = await sql`SELECT count(*) FILTER (WHERE attempts = 0)::int AS along FROM inbox_activities`;
      ctx.log(
        `inbound: queue drained ${(drained / 1000).toFixed(2)} s after the first enqueue; ${along} rows applied along with another job's batch`,
      );
      // Visible through the API: every sender's chat, holding its messages.
      const chats = await api(instance.url, token).get<{ id: string; unread: number }[]>("/api/v1/pleroma/chats");
      const unread = chats.body.reduce((sum, chat) => sum + chat.unread, 0);
      ctx.log(
        `inbound: ${applied}/${N} applied in ${seconds.toFixed(2)} s; API shows ${chats.body.length} chats, ${unread} unread messages`,
      );
      if (chats.status !== 200 || unread !== applied) throw new Error(`API shows ${unread} unread messages, ${applied} rows applied`);
      const results: BenchResult[] = [
        { metric: "inbound applied/s", value: Math.round(applied / seconds), unit: "activities/s", goal: "≥ 1000 (Redis backend)" },
        { metric: "inbound activities applied", value: applied, unit: "activities" },
        { metric: "inbound enqueue of all jobs", value: Math.round(enqueued), unit: "ms" },
        { metric: "inbound jobs done (queue empty)", value: Math.round(drained), unit: "ms" },
        { metric: "inbound worker peak RSS", value: (await instance.peakRssMb()).worker, unit: "MB", goal: "≤ 300" },
      ];
      return results;
    } finally {
      await queues.close();
      await instance.close();
    }
  },
};
