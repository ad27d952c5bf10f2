/**
 * delivery: messages posted through the API (by a load-generator process) to remote accounts whose
 * inboxes are a loopback sink that verifies every signature; delivered/s, then enqueue→receipt
 * p50/p99 at half that rate ("enqueue" = the moment the API request was sent, so an upper bound).
 * Baselines, same run: BullMQ no-op jobs/s on the same backend, and RSA-2048 signs/s (node:crypto, one core).
 * Over the throughput window (first API post → last delivery received), the CPU each process spent
 * per delivered message (bench/lib/cpu.ts): web, worker, PostgreSQL, the sink (this process), the
 * load generator, Redis.
 */
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import postgres from "postgres";
import { queueBackend } from "../../src/queues/queues.js";
import { insertRemoteAccount } from "../../test/helpers/delivery.js";
import { type InboxSink, type SinkRequest, startInboxSink } from "../../test/helpers/inbox-sink.js";
import { api, createAccount, deleteRedisPrefix, dropDatabase, TEST_PG, TEST_REDIS } from "../../test/helpers/parley.js";
import { type CpuSpent, redisServerPid, startCpuWindow } from "../lib/cpu.js";
import { runLoad } from "../lib/load.js";
import { type ParleyProcesses, startParleyProcesses } from "../lib/parley-processes.js";
import type { PreparedRequest } from "../lib/sign.js";
import { round, summarize } from "../lib/stats.js";
import type { Bench, BenchResult, QueueBackend } from "../types.js";

const SENDERS = 8;
const THROUGHPUT_MESSAGES = Number(process.env.BENCH_DELIVERY_MESSAGES ?? 3_000);
const THROUGHPUT_MS = 30_000;
const LATENCY_MS = 8_000;
const NOOP_JOBS = Number(process.env.BENCH_NOOP_JOBS ?? 10_000);

/**
 * RSA-2048 signatures per second on this thread (≈ one core), over a typical signing string, and the
 * CPU time of one: on a shared machine the two part ways, and the CPU per message below is best
 * read against the latter.
 */
function rsaSignsPerSecond(durationMs = 2_000): { perSecond: number; cpuMsPerSign: number } {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const data = Buffer.from(
    `(request-target): post /users/someone/inbox\nhost: remote.example\ndate: ${new Date().toUTCString()}\ndigest: SHA-256=${randomBytes(32).toString("base64")}\ncontent-type: application/activity+json`,
  );
  for (let i = 0; i < 50; i++) sign("sha256", data, privateKey);
  let count = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  while (performance.now() - started < durationMs) {
    for (let i = 0; i < 20; i++) sign("sha256", data, privateKey);
    count += 20;
  }
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  return { perSecond: (count * 1000) / elapsed, cpuMsPerSign: (cpu.user + cpu.system) / 1000 / count };
}

/** BullMQ jobs/s with a no-op processor (concurrency 50) on the given backend: add `count` jobs, wait for all. */
async function noopJobsPerSecond(kind: QueueBackend, count: number): Promise<number> {
  const suffix = randomBytes(6).toString("hex");
  const prefix = `parley-bench-${suffix}`;
  const databaseUrl = `${TEST_PG}/parley_bench_${suffix}`;
  if (kind === "postgres") {
    const admin = postgres(`${TEST_PG}/postgres`, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE "parley_bench_${suffix}"`);
    await admin.end();
  }
  const backend = queueBackend({ redisUrl: kind === "redis" ? TEST_REDIS : undefined, databaseUrl, prefix });
  const queue = new backend.Queue("bench-noop", { connection: backend.connection(), prefix: backend.prefix });
  let done = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((resolve) => (resolveAll = resolve));
  const worker = new backend.Worker(
    "bench-noop",
    async () => {
      if (++done === count) resolveAll();
    },
    { connection: backend.connection(), prefix: backend.prefix, concurrency: 50, removeOnComplete: { count: 0 } },
  );
  try {
    await queue.waitUntilReady();
    await worker.waitUntilReady();
    const started = performance.now();
    for (let i = 0; i < count; i += 500) {
      await queue.addBulk(
        Array.from({ length: Math.min(500, count - i) }, (_, j) => ({
          name: "noop",
          data: { i: i + j },
          opts: { removeOnComplete: true },
        })),
      );
    }
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no-op jobs: ${done} of ${count} after 120 s`)), 120_000).unref(),
    );
    await Promise.race([all, timeout]);
    return (count * 1000) / (performance.now() - started);
  } finally {
    await worker.close();
    await queue.close();
    await backend.close();
    if (kind === "postgres") await dropDatabase(databaseUrl);
    else await deleteRedisPrefix(prefix);
  }
}

/** Waits until `predicate` holds over the sink's requests, or the deadline passes. */
async function waitSink(sink: InboxSink, predicate: (received: SinkRequest[]) => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate(sink.received)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

const tokenOf = (request: SinkRequest): string | undefined =>
  /bench-(\w+)-(\d+)/.exec(JSON.stringify(request.activity?.object?.content ?? ""))?.[0];

/** API POSTs of `count` messages tagged `bench-<phase>-<i>`, round-robin over the chats. */
function messages(phase: string, count: number, chats: { chatId: string; token: string }[]): PreparedRequest[] {
  return Array.from({ length: count }, (_, i) => {
    const chat = chats[i % chats.length];
    return {
      path: `/api/v1/pleroma/chats/${chat.chatId}/messages`,
      headers: { authorization: `Bearer ${chat.token}`, "content-type": "application/json" },
      body: JSON.stringify({ content: `bench-${phase}-${i}` }),
    };
  });
}

/** One row per process of CPU ms per delivered message, then their total. */
function cpuRows(spent: CpuSpent, delivered: number): BenchResult[] {
  const perMessage = (ms: number) => round(ms / Math.max(1, delivered), 3);
  const processes: [string, number | undefined][] = [
    ["web process", spent.web],
    ["worker process", spent.worker],
    ["PostgreSQL (all postgres processes)", spent.postgresAll],
    ["inbox sink (bench runner process)", spent.runner],
    ["load generator process (incl. its start-up)", spent.runnerChildren],
    ["Redis (redis-server)", spent.redis],
  ];
  const rows: BenchResult[] = [];
  let total = 0;
  for (const [name, ms] of processes) {
    if (ms === undefined || Number.isNaN(ms)) continue;
    total += ms;
    rows.push({ metric: `delivery CPU per message, ${name}`, value: perMessage(ms), unit: "ms/msg" });
  }
  rows.push({ metric: "delivery CPU per message, total", value: perMessage(total), unit: "ms/msg" });
  // A subset of the PostgreSQL row (not in the total): other users of the server are not in it.
  rows.push({
    metric: "delivery CPU per message, PostgreSQL backends of the bench database",
    value: perMessage(spent.postgresBenchDb),
    unit: "ms/msg",
  });
  return rows;
}

async function openChats(instance: ParleyProcesses, sink: InboxSink) {
  const chats: { chatId: string; token: string }[] = [];
  for (let i = 0; i < SENDERS; i++) {
    const { token } = await createAccount(instance, `sender${i}`);
    const remote = await insertRemoteAccount(instance, sink);
    const opened = await api(instance.url, token).post(`/api/v1/pleroma/chats/by-account-id/${remote.id}`);
    if (opened.status !== 200) throw new Error(`open chat: ${opened.status} ${JSON.stringify(opened.body)}`);
    chats.push({ chatId: opened.body.id as string, token });
  }
  return chats;
}

export const bench: Bench = {
  name: "delivery",
  async run(ctx) {
    ctx.log("delivery: RSA-2048 signs/s (one core)");
    const { perSecond: signs, cpuMsPerSign } = rsaSignsPerSecond();
    ctx.log(`delivery: BullMQ no-op jobs/s (${NOOP_JOBS} jobs)`);
    const noop = await noopJobsPerSecond(ctx.queue, NOOP_JOBS);

    const sink = await startInboxSink();
    const instance = await startParleyProcesses(ctx.queue);
    try {
      const chats = await openChats(instance, sink);
      // Warm-up: one message per chat (keys, connections), not measured.
      const warm = await runLoad(instance.url, messages("warm", SENDERS, chats), SENDERS, 10_000);
      await waitSink(sink, (r) => r.filter((x) => tokenOf(x)?.startsWith("bench-warm-")).length >= (warm.byStatus["200"] ?? 0), 15_000);

      ctx.log(`delivery: throughput, ${THROUGHPUT_MESSAGES} messages through the API`);
      const before = sink.received.length;
      const endCpuWindow = await startCpuWindow({
        web: instance.web.pid!,
        worker: instance.worker.pid!,
        database: new URL(instance.databaseUrl).pathname.slice(1),
        redisPid: ctx.queue === "redis" ? redisServerPid(TEST_REDIS) : undefined,
      });
      const t0 = Date.now();
      const load = await runLoad(instance.url, messages("tp", THROUGHPUT_MESSAGES, chats), 32, THROUGHPUT_MS);
      const posted = load.byStatus["200"] ?? 0;
      const isTp = (x: SinkRequest) => tokenOf(x)?.startsWith("bench-tp-") ?? false;
      // Counts only the receipts new since the last look, so that waiting costs this process (the sink's) little CPU.
      let scanned = before;
      let received = 0;
      const complete = await waitSink(
        sink,
        (r) => {
          for (; scanned < r.length; scanned++) if (isTp(r[scanned])) received++;
          return received >= posted;
        },
        60_000,
      );
      const cpu = await endCpuWindow();
      const tp = sink.received.slice(before).filter(isTp);
      const unverified = tp.filter((x) => !x.signature.verified).length;
      const lastAt = tp.length ? tp[tp.length - 1].receivedAt : t0;
      const deliveredPerSec = (tp.length * 1000) / Math.max(1, lastAt - t0);
      const apiPerSec = (posted * 1000) / load.elapsedMs;
      ctx.log(
        `delivery: ${tp.length} of ${posted} posted received${complete ? "" : " (timed out)"}, ${unverified} unverified, API ${load.byStatus ? JSON.stringify(load.byStatus) : ""}`,
      );

      const latencyRate = Math.max(1, deliveredPerSec / 2);
      const latencyCount = Math.ceil((latencyRate * LATENCY_MS) / 1000);
      ctx.log(`delivery: latency at ${Math.round(latencyRate)}/s, ${latencyCount} messages`);
      const before2 = sink.received.length;
      const paced = await runLoad(instance.url, messages("lat", latencyCount, chats), 32, LATENCY_MS + 5_000, latencyRate);
      const postedLat = paced.byStatus["200"] ?? 0;
      const isLat = (x: SinkRequest) => tokenOf(x)?.startsWith("bench-lat-") ?? false;
      await waitSink(sink, (r) => r.slice(before2).filter(isLat).length >= postedLat, 30_000);
      const delays: number[] = [];
      for (const request of sink.received.slice(before2).filter(isLat)) {
        const index = Number(tokenOf(request)!.split("-")[2]);
        if (paced.sentAt[index] > 0) delays.push(request.receivedAt - paced.sentAt[index]);
      }
      const latency = summarize(delays);

      const results: BenchResult[] = [
        {
          metric: "delivered/s",
          value: round(deliveredPerSec, 0),
          unit: "msg/s",
          baseline: { name: "RSA-2048 signs/s (1 core)", value: round(signs, 0) },
          goal: ">= 0.2 x RSA signs/s",
        },
        {
          metric: "delivered/s vs BullMQ no-op",
          value: round(deliveredPerSec, 0),
          unit: "msg/s",
          baseline: { name: "BullMQ no-op jobs/s", value: round(noop, 0) },
        },
        { metric: "API message posts/s (during delivery)", value: round(apiPerSec, 0), unit: "req/s" },
        { metric: `enqueue->receipt p50 @${Math.round(latencyRate)}/s`, value: round(latency.p50), unit: "ms" },
        { metric: `enqueue->receipt p99 @${Math.round(latencyRate)}/s`, value: round(latency.p99), unit: "ms", goal: "<= 1000 ms" },
      ];
      results.push(...cpuRows(cpu, tp.length), {
        metric: "RSA-2048 sign, CPU per signature (same run, for scale)",
        value: round(cpuMsPerSign, 3),
        unit: "ms",
      });
      const rss = await instance.peakRssMb();
      results.push(
        { metric: "delivery peak RSS, web process", value: rss.web, unit: "MB", goal: "<= 300 MB" },
        { metric: "delivery peak RSS, worker process", value: rss.worker, unit: "MB", goal: "<= 300 MB" },
      );
      if (unverified) results.push({ metric: "deliveries failing sink verification", value: unverified, unit: "req" });
      if (!complete || delays.length < postedLat)
        results.push({ metric: "messages not received in time", value: posted - tp.length + (postedLat - delays.length), unit: "msg" });
      return results;
    } finally {
      await instance.close();
      await sink.close();
    }
  },
};
