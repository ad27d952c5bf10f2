/**
 * Chaos run (issue 7, part 3): two Parley instances A and B, each a web and a worker process as
 * production runs them, chat over loopback while faults are injected; afterwards every message
 * must be shown exactly once on both sides and nothing may be left pending.
 *
 *   npx tsx bench/chaos.ts [--messages 1000] [--queue redis|postgres] [--pairs 4] [--send-seconds S]
 *
 * Faults, in this order during the send phase:
 *   worker-kill    SIGKILL both worker processes, start new ones at once
 *   redis-flush    delete every key under A's and B's queue prefixes (never FLUSHALL); Redis only
 *   pg-outage      a TCP proxy between every Parley process and PostgreSQL closes every connection
 *                  and refuses new ones for PG_OUTAGE_MS, then listens again
 *   inbox-failure  an HTTP proxy in front of B (B's PUBLIC_URL) answers 503 to every POST to an
 *                  inbox for INBOX_OUTAGE_MS; A's deliveries to B fail and must be retried
 * Clients post through the API with an Idempotency-Key and retry 5xx/network errors with the same
 * key, as a real client would (the API is down during the PostgreSQL outage).
 * Exit code 0 only when nothing is lost, duplicated, miscounted or left pending, and no process
 * exited on its own. See docs/reliability-chaos-notes.md.
 */
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { Queue } from "bullmq";
import { QUEUE_NAMES, queueBackend } from "../src/queues/queues.js";
import { deleteRedisPrefix, freePort, TEST_REDIS } from "../test/helpers/parley.js";
import { startTcpProxy, type TcpProxy } from "../test/helpers/tcp-proxy.js";
import { startParleyProcesses, type ParleyProcesses } from "./lib/parley-processes.js";
import { percentile, round } from "./lib/stats.js";
import type { QueueBackend } from "./types.js";

const { values: args } = parseArgs({
  options: {
    messages: { type: "string", default: "1000" },
    queue: { type: "string", default: "redis" },
    pairs: { type: "string", default: "4" },
    "send-seconds": { type: "string" },
    "drain-seconds": { type: "string", default: "180" },
  },
});
const MESSAGES = Number(args.messages);
const QUEUE = args.queue as QueueBackend;
const PAIRS = Number(args.pairs);
if (!(MESSAGES >= 8) || !(PAIRS >= 1) || (QUEUE !== "redis" && QUEUE !== "postgres")) {
  console.error("usage: npx tsx bench/chaos.ts [--messages N≥8] [--queue redis|postgres] [--pairs P] [--send-seconds S]");
  process.exit(2);
}
/** The send phase: messages are spread evenly over it (about 12/s for 1,000; at least 30 s so every fault falls inside). */
const SEND_MS = Number(args["send-seconds"] ?? Math.max(30, Math.ceil(MESSAGES / 12))) * 1000;
const DRAIN_MS = Number(args["drain-seconds"]) * 1000;
const PG_OUTAGE_MS = 5_000;
const INBOX_OUTAGE_MS = 10_000;
/** A client gives a message up after retrying this long. */
const CLIENT_GIVE_UP_MS = 60_000;

/**
 * Shorter delivery timings (test hook TEST_DELIVERY_TUNING, as the tests use): production waits
 * 1 min before the first retry, pauses a failing host for 30 min and reconciles after a 1 min
 * grace; a chaos run must drain in minutes. The retry/reconcile logic is the same.
 */
const TUNING = {
  backoffBaseMs: 1_000,
  maxDelayMs: 5_000,
  pauseThreshold: 5,
  pauseWindowMs: 60_000,
  pauseMs: 5_000,
  requestTimeoutMs: 10_000,
  connectTimeoutMs: 3_000,
  reconcileEveryMs: 5_000,
  reconcileGraceMs: 5_000,
  lockDurationMs: 10_000,
  stalledIntervalMs: 5_000,
};

const runId = randomBytes(3).toString("hex");
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const log = (msg: string) => console.log(`[chaos ${elapsed()}] ${msg}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// HTTP proxy in front of B: passes everything, or answers 503 to inbox POSTs while `failing`.

interface FrontProxy {
  port: number;
  target: number;
  failing: boolean;
  refused: number;
  server: Server;
}

async function startFrontProxy(): Promise<FrontProxy> {
  const port = await freePort();
  const proxy: FrontProxy = { port, target: 0, failing: false, refused: 0, server: undefined as unknown as Server };
  proxy.server = createServer((req, res) => {
    if (proxy.failing && req.method === "POST" && /\/inbox$/.test(req.url?.split("?")[0] ?? "")) {
      proxy.refused++;
      req.resume();
      res.writeHead(503, { "content-type": "text/plain" }).end("chaos: inbox unavailable");
      return;
    }
    const upstream = httpRequest(
      { host: "127.0.0.1", port: proxy.target, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.server.listen(port, "127.0.0.1", resolve));
  return proxy;
}

// ---------------------------------------------------------------------------------------------
// A small API client (no exceptions: status 0 = network error).

async function call(base: string, token: string, method: string, pathname: string, body?: unknown, headers: Record<string, string> = {}) {
  try {
    const response = await fetch(new URL(pathname, base), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    let parsed: any = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: response.status, body: parsed, link: response.headers.get("link") };
  } catch (error) {
    return { status: 0, body: String(error), link: null };
  }
}

async function must(base: string, token: string, method: string, pathname: string, body?: unknown, expected = [200, 201]) {
  const response = await call(base, token, method, pathname, body);
  if (!expected.includes(response.status)) throw new Error(`${method} ${pathname}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

// ---------------------------------------------------------------------------------------------

interface Side {
  name: "A" | "B";
  p: ParleyProcesses;
  /** Where clients reach the API (B: directly, not through the failing front proxy). */
  api: string;
  accounts: { id: string; username: string; token: string; chatId: string; peerId: string }[];
}

interface Sent {
  seq: number;
  tag: string;
  from: "A" | "B";
  pair: number;
  firstTry: number;
  acceptedAt?: number;
  tries: number;
  ok: boolean;
  lastStatus?: number;
}

interface Fault {
  name: string;
  start: number;
  end: number;
  note: string;
}

const tagOf = (seq: number) => `c${runId}-${seq}-x`;
const TAG_RE = new RegExp(`c${runId}-(\\d+)-x`);

async function main() {
  const logPath = path.join(tmpdir(), `parley-chaos-${runId}.log`);
  const logFd = openSync(logPath, "a");
  log(`run ${runId}: ${MESSAGES} messages, ${PAIRS} pairs, queue ${QUEUE}, send phase ${SEND_MS / 1000} s; process logs in ${logPath}`);

  const pgProxy: TcpProxy = await startTcpProxy("127.0.0.1", Number(new URL(process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432").port || 5432));
  const front = await startFrontProxy();
  const processPg = `postgres://postgres@127.0.0.1:${pgProxy.port}`;
  const env = { TEST_DELIVERY_TUNING: JSON.stringify(TUNING), LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "info" };
  const [pa, pb] = await Promise.all([
    startParleyProcesses(QUEUE, env, { processPg, stderr: logFd }),
    startParleyProcesses(QUEUE, env, { processPg, stderr: logFd, publicPort: front.port }),
  ]);
  front.target = Number(new URL(pb.directUrl).port);
  const A: Side = { name: "A", p: pa, api: pa.directUrl, accounts: [] };
  const B: Side = { name: "B", p: pb, api: pb.directUrl, accounts: [] };
  log(`A at ${pa.url}, B at ${pb.url} (web ${pb.directUrl}); PostgreSQL via proxy :${pgProxy.port}`);

  let exitCode = 1;
  const watch = { stop: false, unexpectedExits: [] as string[] };
  try {
    // Accounts, lookups both ways, one chat on each side of each pair.
    for (let i = 0; i < PAIRS; i++) {
      for (const side of [A, B]) {
        const created = await must(side.p.url, side.p.adminToken, "POST", "/api/v1/admin/accounts", { username: `${side.name.toLowerCase()}${i}` });
        side.accounts.push({ id: created.account.id, username: created.account.username, token: created.access_token, chatId: "", peerId: "" });
      }
    }
    for (const [side, other] of [
      [A, B],
      [B, A],
    ] as const) {
      for (let i = 0; i < PAIRS; i++) {
        const me = side.accounts[i];
        const peer = other.accounts[i];
        const found = await must(side.api, me.token, "GET", `/api/v1/accounts/lookup?acct=${encodeURIComponent(`${peer.username}@${new URL(other.p.url).host}`)}`);
        const chat = await must(side.api, me.token, "POST", `/api/v1/pleroma/chats/by-account-id/${found.id}`);
        me.chatId = chat.id;
        me.peerId = found.id;
      }
    }
    log("accounts and chats ready");

    // Watch for processes that die on their own (not killed by a fault): recorded and restarted.
    const killing = new Set<string>();
    const watcher = (async () => {
      while (!watch.stop) {
        for (const side of [A, B]) {
          for (const role of ["web", "worker"] as const) {
            const child = side.p[role];
            const key = `${side.name}/${role}`;
            if (!killing.has(key) && (child.exitCode !== null || child.signalCode !== null)) {
              watch.unexpectedExits.push(`${key} exited (${child.exitCode ?? child.signalCode}) at ${elapsed()}`);
              log(`!! ${key} exited on its own (${child.exitCode ?? child.signalCode}); restarting it`);
              killing.add(key);
              await side.p.restart(role).catch((error) => log(`restart of ${key} failed: ${error}`));
              killing.delete(key);
            }
          }
        }
        await sleep(500);
      }
    })();

    // Faults, on their own timeline.
    const faults: Fault[] = [];
    const t0 = Date.now();
    const at = (fraction: number) => sleep(Math.max(0, t0 + fraction * SEND_MS - Date.now()));
    const faultRun = (async () => {
      await at(0.1);
      {
        const start = Date.now();
        await Promise.all(
          [A, B].map(async (side) => {
            killing.add(`${side.name}/worker`);
            const old = side.p.worker.pid;
            await side.p.restart("worker", "SIGKILL");
            killing.delete(`${side.name}/worker`);
            log(`fault worker-kill: ${side.name} worker ${old} SIGKILLed, new worker ${side.p.worker.pid} ready`);
          }),
        );
        faults.push({ name: "worker-kill", start, end: Date.now(), note: "SIGKILL A's and B's worker; new ones started" });
      }
      await at(0.3);
      if (QUEUE === "redis") {
        const start = Date.now();
        await Promise.all([deleteRedisPrefix(A.p.queuePrefix), deleteRedisPrefix(B.p.queuePrefix)]);
        log(`fault redis-flush: keys ${A.p.queuePrefix}:* and ${B.p.queuePrefix}:* deleted`);
        faults.push({ name: "redis-flush", start, end: Date.now(), note: "every key of both queue prefixes deleted" });
      } else log("fault redis-flush: skipped (queue backend postgres)");
      await at(0.5);
      {
        const start = Date.now();
        await pgProxy.cut();
        log(`fault pg-outage: every PostgreSQL connection cut, new ones refused for ${PG_OUTAGE_MS / 1000} s`);
        await sleep(PG_OUTAGE_MS);
        await pgProxy.restore();
        log("fault pg-outage: PostgreSQL reachable again");
        faults.push({ name: "pg-outage", start, end: Date.now(), note: `TCP proxy cut for ${PG_OUTAGE_MS / 1000} s` });
      }
      await at(0.7);
      {
        const start = Date.now();
        front.failing = true;
        log(`fault inbox-failure: B's inbox answers 503 for ${INBOX_OUTAGE_MS / 1000} s`);
        await sleep(INBOX_OUTAGE_MS);
        front.failing = false;
        faults.push({ name: "inbox-failure", start, end: Date.now(), note: `B's inbox 503 for ${INBOX_OUTAGE_MS / 1000} s (${front.refused} POSTs refused)` });
        log(`fault inbox-failure: over, ${front.refused} POSTs refused`);
      }
    })();

    // The send phase: message k at t0 + k·SEND_MS/N; even k from A to B, odd from B to A.
    const sent: Sent[] = [];
    const posts: Promise<void>[] = [];
    for (let seq = 0; seq < MESSAGES; seq++) {
      await sleep(Math.max(0, t0 + (seq * SEND_MS) / MESSAGES - Date.now()));
      const from = seq % 2 === 0 ? A : B;
      const pair = Math.floor(seq / 2) % PAIRS;
      const account = from.accounts[pair];
      const entry: Sent = { seq, tag: tagOf(seq), from: from.name, pair, firstTry: Date.now(), tries: 0, ok: false };
      sent.push(entry);
      posts.push(
        (async () => {
          while (Date.now() - entry.firstTry < CLIENT_GIVE_UP_MS) {
            entry.tries++;
            const response = await call(from.api, account.token, "POST", `/api/v1/pleroma/chats/${account.chatId}/messages`, { content: `chaos ${entry.tag}` }, { "idempotency-key": entry.tag });
            entry.lastStatus = response.status;
            if (response.status === 200) {
              entry.ok = true;
              entry.acceptedAt = Date.now();
              return;
            }
            if (response.status !== 0 && response.status < 500 && response.status !== 429) return;
            await sleep(500);
          }
        })(),
      );
      if (seq % 100 === 99) log(`${seq + 1} messages started`);
    }
    await Promise.all(posts);
    await faultRun;
    const sendEnd = Date.now();
    const okSent = sent.filter((s) => s.ok);
    log(`send phase over: ${okSent.length} of ${sent.length} accepted by the API (${sent.filter((s) => s.tries > 1).length} after retries)`);

    // Drain: wait until nothing is pending, no job is left and every message arrived (bounded).
    const backends = await Promise.all([A, B].map((side) => retry(() => openQueueView(side.p), "queue view")));
    let drainedAt: number | undefined;
    let quietSince: number | undefined;
    let last = "";
    while (Date.now() - sendEnd < DRAIN_MS) {
      let state: Awaited<ReturnType<typeof pendingState>>[];
      let arrived: number;
      try {
        state = await Promise.all([A, B].map((side, i) => pendingState(side, backends[i])));
        arrived = await arrivedCount(A, B);
      } catch (error) {
        log(`drain: check failed (${(error as Error).message}); again`);
        await sleep(1_000);
        continue;
      }
      const quiet = state.every((s) => s.deliveriesPending === 0 && s.inboxPending === 0 && s.jobsLeft === 0);
      const summary = `A ${JSON.stringify(state[0])} B ${JSON.stringify(state[1])} arrived ${arrived}/${okSent.length}`;
      if (summary !== last) log(`drain: ${summary}`);
      last = summary;
      if (quiet && arrived >= okSent.length) {
        drainedAt = Date.now();
        break;
      }
      if (quiet) {
        quietSince ??= Date.now();
        if (Date.now() - quietSince > 15_000) break;
      } else quietSince = undefined;
      await sleep(1_000);
    }
    const drainMs = drainedAt ? drainedAt - sendEnd : undefined;
    log(drainedAt ? `drained ${round((drainedAt - sendEnd) / 1000, 1)} s after the send phase` : "NOT drained within the bound");

    // Checks.
    const report = await retry(() => check(A, B, sent, faults, backends), "checks");
    for (const b of backends) await b.close();
    watch.stop = true;
    await watcher;

    const rows: [string, string | number][] = [
      ["queue backend", QUEUE],
      ["messages attempted", sent.length],
      ["sent (accepted by the API)", report.sent],
      ["  of which after client retries", sent.filter((s) => s.ok && s.tries > 1).length],
      ["delivered (shown on the receiver)", report.delivered],
      ["lost", report.lost],
      ["duplicates shown", report.duplicates],
      ["unread counter mismatches", report.unreadMismatches],
      ["API/SQL mismatches", report.apiMismatches],
      ["deliveries not delivered", report.deliveriesNotDelivered],
      ["delivery attempts (rows attempted more than once)", `${report.deliveryAttempts} (${report.resent})`],
      ["inbox_activities pending/failed", report.inboxNotApplied],
      ["message jobs left (waiting/active/delayed, failed+row pending)", report.jobsLeft],
      ["failed jobs whose row is done anyway", report.failedDone],
      ["scheduler jobs failed (informative)", report.schedulerFailed],
      ["latency p50 / p99 / max (s)", `${report.latency.p50} / ${report.latency.p99} / ${report.latency.max}`],
      ["time to drain (s)", drainMs === undefined ? "not drained" : round(drainMs / 1000, 1)],
      ["processes exited on their own", watch.unexpectedExits.length],
    ];
    console.log("\n" + rows.map(([k, v]) => `${k.padEnd(52)} ${v}`).join("\n"));
    console.log("\nper fault (messages whose send started from the fault's start to 5 s after its end):");
    console.log(`${"fault".padEnd(14)} ${"window (s)".padEnd(14)} ${"sent".padStart(5)} ${"lost".padStart(5)} ${"dup".padStart(4)} ${"max lat (s)".padStart(11)}  note`);
    for (const f of report.perFault) {
      console.log(`${f.name.padEnd(14)} ${`${f.from}–${f.to}`.padEnd(14)} ${String(f.sent).padStart(5)} ${String(f.lost).padStart(5)} ${String(f.duplicates).padStart(4)} ${String(f.maxLatencyS).padStart(11)}  ${f.note}`);
    }
    if (watch.unexpectedExits.length) console.log(`unexpected exits: ${watch.unexpectedExits.join("; ")}`);
    for (const problem of report.problems.slice(0, 30)) console.log(`problem: ${problem}`);
    // The issue's bar: every message delivered and shown once, unread counters right, nothing
    // stuck; and, since patches/postgres+3.4.9.patch, no process dies of a fault it did not get.
    const ok =
      report.lost === 0 &&
      report.duplicates === 0 &&
      report.unreadMismatches === 0 &&
      report.apiMismatches === 0 &&
      report.deliveriesNotDelivered === 0 &&
      report.inboxNotApplied === 0 &&
      report.jobsLeft === 0 &&
      drainMs !== undefined &&
      watch.unexpectedExits.length === 0;
    console.log(
      JSON.stringify({
        chaos: {
          run: runId,
          queue: QUEUE,
          messages: MESSAGES,
          sent: report.sent,
          notAccepted: sent.length - report.sent,
          delivered: report.delivered,
          duplicates: report.duplicates,
          lost: report.lost,
          unreadMismatches: report.unreadMismatches,
          apiMismatches: report.apiMismatches,
          deliveriesNotDelivered: report.deliveriesNotDelivered,
          deliveryAttempts: report.deliveryAttempts,
          deliveriesResent: report.resent,
          inboxNotApplied: report.inboxNotApplied,
          jobsLeft: report.jobsLeft,
          failedJobsRowDone: report.failedDone,
          schedulerJobsFailed: report.schedulerFailed,
          latencyS: report.latency,
          drainS: drainMs === undefined ? null : round(drainMs / 1000, 1),
          totalS: round((Date.now() - started) / 1000, 1),
          unexpectedExits: watch.unexpectedExits,
          faults: report.perFault,
          ok,
        },
      }),
    );
    exitCode = ok ? 0 : 1;
  } catch (error) {
    console.error("chaos run aborted:", error);
  } finally {
    watch.stop = true;
    // Bounded: a cleanup that hangs (a pool waiting on a dead connection) must not hang CI.
    await Promise.race([Promise.allSettled([pa.close(), pb.close()]), sleep(60_000)]);
    await pgProxy.close();
    await new Promise((resolve) => front.server.close(resolve));
    front.server.closeAllConnections();
    closeSync(logFd);
  }
  return exitCode;
}

/** Retries a step that the shared PostgreSQL may refuse for a while ("too many clients"). */
async function retry<T>(step: () => Promise<T>, what: string, forMs = 60_000): Promise<T> {
  const deadline = Date.now() + forMs;
  for (;;) {
    try {
      return await step();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      log(`${what}: ${(error as Error).message}; retrying`);
      await sleep(2_000);
    }
  }
}

// ---------------------------------------------------------------------------------------------

interface QueueView {
  queues: Queue[];
  close(): Promise<void>;
}

/** The instance's BullMQ queues, seen from here (Redis or the PostgreSQL backend, directly). */
async function openQueueView(p: ParleyProcesses): Promise<QueueView> {
  const backend = queueBackend({ redisUrl: QUEUE === "redis" ? TEST_REDIS : undefined, databaseUrl: p.databaseUrl, prefix: p.queuePrefix });
  // PostgreSQL backend: one connection per queue, not the service's three (the shared server has 100 in all).
  const connection = () =>
    QUEUE === "postgres" ? ({ connectionString: p.databaseUrl, migrate: false, max: 1 } as unknown as ReturnType<typeof backend.connection>) : backend.connection();
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
async function jobsLeft(view: QueueView, db: ParleyProcesses["sql"]): Promise<{ left: number; failedDone: number; schedulerFailed: number; detail: string[] }> {
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
          if (detail.length < 10) detail.push(`${queue.name}/${job.id} ${job.name} failed (row ${row.status}): ${job.failedReason}`);
          continue;
        }
      }
      left++;
      if (detail.length < 10) detail.push(`${queue.name}/${job.id} ${job.name} ${failed ? "failed" : await job.getState()} ${job.failedReason ?? ""}`);
    }
  }
  return { left, failedDone, schedulerFailed, detail };
}

async function pendingState(side: Side, view: QueueView) {
  const [row] = await side.p.sql<{ d: number; i: number }[]>`SELECT
    (SELECT count(*) FROM deliveries WHERE status = 'pending')::int AS d,
    (SELECT count(*) FROM inbox_activities WHERE status = 'pending')::int AS i`;
  const jobs = await jobsLeft(view, side.p.sql).catch(() => ({ left: -1, failedDone: -1 }));
  return { deliveriesPending: row.d, inboxPending: row.i, jobsLeft: jobs.left, failedJobsRowDone: jobs.failedDone };
}

/** Distinct tags arrived on the receivers (remote messages), both sides together. */
async function arrivedCount(A: Side, B: Side): Promise<number> {
  let total = 0;
  for (const side of [A, B]) {
    const [row] = await side.p.sql<{ n: number }[]>`SELECT count(DISTINCT substring(content FROM ${TAG_RE.source}))::int AS n
      FROM messages WHERE NOT local AND content LIKE ${`%c${runId}-%`}`;
    total += row.n;
  }
  return total;
}

async function check(A: Side, B: Side, sent: Sent[], faults: Fault[], views: QueueView[]) {
  const problems: string[] = [];
  const bySeq = new Map(sent.map((s) => [s.seq, s]));
  /** seq → { refs shown on the receiver, messages rows, earliest arrival (ms) } */
  const received = new Map<number, { rows: number; refs: number; arrivedAt: number }>();
  const local = new Map<number, number>();
  for (const side of [A, B]) {
    const rows = await side.p.sql<{ content: string; local: boolean; refs: number; at: number }[]>`
      SELECT m.content, m.local, (SELECT count(*) FROM message_refs r WHERE r.message_id = m.id)::int AS refs,
             (extract(epoch FROM m.created_at) * 1000)::float8 AS at
      FROM messages m WHERE m.content LIKE ${`%c${runId}-%`} AND m.deleted_at IS NULL`;
    for (const row of rows) {
      const seq = Number(TAG_RE.exec(row.content)?.[1]);
      const expectedFrom = bySeq.get(seq)?.from;
      if (row.local) {
        if (expectedFrom !== side.name) problems.push(`message ${seq} is local on ${side.name} but was sent from ${expectedFrom}`);
        local.set(seq, (local.get(seq) ?? 0) + 1);
        if (row.refs !== 1) problems.push(`message ${seq}: ${row.refs} refs on its sender ${side.name}`);
      } else {
        const entry = received.get(seq) ?? { rows: 0, refs: 0, arrivedAt: Infinity };
        entry.rows++;
        entry.refs += row.refs;
        entry.arrivedAt = Math.min(entry.arrivedAt, row.at);
        received.set(seq, entry);
      }
    }
  }

  let delivered = 0;
  let lost = 0;
  let duplicates = 0;
  const latencies = new Map<number, number>();
  for (const s of sent) {
    const copies = local.get(s.seq) ?? 0;
    if (s.ok && copies !== 1) {
      problems.push(`message ${s.seq} (${s.from}): ${copies} copies on its sender`);
      if (copies > 1) duplicates += copies - 1;
    }
    if (!s.ok && copies > 0) problems.push(`message ${s.seq} (${s.from}) was not accepted by the API (last ${s.lastStatus}) yet is stored ${copies}×`);
    const got = received.get(s.seq);
    if (!got) {
      if (s.ok || copies > 0) {
        lost++;
        problems.push(`LOST message ${s.seq} ${s.from}→${s.from === "A" ? "B" : "A"} (pair ${s.pair})`);
      }
      continue;
    }
    delivered++;
    if (got.rows > 1 || got.refs > 1) {
      duplicates += Math.max(got.rows, got.refs) - 1;
      problems.push(`DUPLICATE message ${s.seq}: ${got.rows} rows, ${got.refs} refs on the receiver`);
    } else if (got.refs === 0) {
      lost++;
      problems.push(`message ${s.seq} stored on the receiver but shown to nobody (no ref)`);
    }
    latencies.set(s.seq, got.arrivedAt - s.firstTry);
  }
  const sortedLat = [...latencies.values()].sort((a, b) => a - b);
  const latency = {
    p50: round(percentile(sortedLat, 50) / 1000, 2),
    p99: round(percentile(sortedLat, 99) / 1000, 2),
    max: round((sortedLat[sortedLat.length - 1] ?? NaN) / 1000, 2),
  };

  // Unread counters against the unread refs; deliveries; inbox activities.
  let unreadMismatches = 0;
  let deliveriesNotDelivered = 0;
  let inboxNotApplied = 0;
  let resent = 0;
  let deliveryAttempts = 0;
  for (const side of [A, B]) {
    const chats = await side.p.sql<{ id: string; unread: number; refs: number }[]>`
      SELECT c.id, c.unread, (SELECT count(*) FROM message_refs r WHERE r.chat_id = c.id AND r.unread)::int AS refs FROM chats c`;
    for (const c of chats) {
      if (c.unread !== c.refs) {
        unreadMismatches++;
        problems.push(`${side.name} chat ${c.id}: unread ${c.unread}, unread refs ${c.refs}`);
      }
    }
    const deliveries = await side.p.sql<{ status: string; n: number; err: string | null }[]>`
      SELECT status, count(*)::int AS n, max(last_error) AS err FROM deliveries GROUP BY status`;
    for (const d of deliveries) {
      if (d.status !== "delivered") {
        deliveriesNotDelivered += d.n;
        problems.push(`${side.name}: ${d.n} deliveries ${d.status} (${d.err})`);
      }
    }
    const [attempts] = await side.p.sql<{ resent: number; attempts: number }[]>`
      SELECT count(*) FILTER (WHERE attempts > 1)::int AS resent, coalesce(sum(attempts), 0)::int AS attempts FROM deliveries`;
    resent += attempts.resent;
    deliveryAttempts += attempts.attempts;
    const inbox = await side.p.sql<{ status: string; n: number; err: string | null }[]>`
      SELECT status, count(*)::int AS n, max(error) AS err FROM inbox_activities GROUP BY status`;
    for (const i of inbox) {
      if (i.status !== "applied") {
        inboxNotApplied += i.n;
        problems.push(`${side.name}: ${i.n} inbox_activities ${i.status} (${i.err})`);
      }
    }
  }

  // Through the API: every chat's messages page by page, and the chat list's unread counters.
  let apiMismatches = 0;
  for (const side of [A, B]) {
    for (const account of side.accounts) {
      const seen = new Map<number, number>();
      let maxId: string | undefined;
      for (;;) {
        const page = await call(side.api, account.token, "GET", `/api/v1/pleroma/chats/${account.chatId}/messages?limit=40${maxId ? `&max_id=${maxId}` : ""}`);
        if (page.status !== 200) {
          apiMismatches++;
          problems.push(`${side.name} API messages of ${account.username}: ${page.status}`);
          break;
        }
        for (const m of page.body as { id: string; content: string | null }[]) {
          const seq = Number(TAG_RE.exec(m.content ?? "")?.[1]);
          if (Number.isFinite(seq)) seen.set(seq, (seen.get(seq) ?? 0) + 1);
        }
        if (page.body.length < 40) break;
        maxId = page.body[page.body.length - 1].id;
      }
      // Expected in this chat: what this pair sent either way, accepted or stored.
      for (const s of sent) {
        if (s.pair !== side.accounts.indexOf(account)) continue;
        const stored = s.from === side.name ? (local.get(s.seq) ?? 0) : (received.get(s.seq)?.refs ?? 0);
        const shown = seen.get(s.seq) ?? 0;
        if (shown !== Math.min(stored, 1) || (shown > 1)) {
          apiMismatches++;
          problems.push(`${side.name} API chat of ${account.username}: message ${s.seq} shown ${shown}×, stored ${stored}×`);
        }
        if (shown > 1) duplicates += shown - 1;
      }
      const chat = await call(side.api, account.token, "GET", `/api/v1/pleroma/chats/${account.chatId}`);
      const [row] = await side.p.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM message_refs WHERE chat_id = ${account.chatId} AND unread`;
      if (chat.status !== 200 || chat.body.unread !== row.n) {
        apiMismatches++;
        problems.push(`${side.name} API chat of ${account.username}: unread ${chat.body?.unread}, unread refs ${row.n}`);
      }
    }
  }

  let jobsLeftTotal = 0;
  let failedDone = 0;
  let schedulerFailed = 0;
  for (const [i, view] of views.entries()) {
    const jobs = await jobsLeft(view, [A, B][i].p.sql);
    jobsLeftTotal += jobs.left;
    failedDone += jobs.failedDone;
    schedulerFailed += jobs.schedulerFailed;
    for (const d of jobs.detail) problems.push(`${i === 0 ? "A" : "B"} job left: ${d}`);
  }

  const perFault = faults.map((f) => {
    const during = sent.filter((s) => s.firstTry >= f.start && s.firstTry <= f.end + 5_000);
    const lat = during.map((s) => latencies.get(s.seq)).filter((v): v is number => v !== undefined);
    return {
      name: f.name,
      from: round((f.start - started) / 1000, 1),
      to: round((f.end - started) / 1000, 1),
      sent: during.filter((s) => s.ok).length,
      lost: during.filter((s) => s.ok && !received.get(s.seq)?.refs).length,
      duplicates: during.filter((s) => (received.get(s.seq)?.rows ?? 0) > 1 || (received.get(s.seq)?.refs ?? 0) > 1 || (local.get(s.seq) ?? 0) > 1).length,
      maxLatencyS: lat.length ? round(Math.max(...lat) / 1000, 2) : null,
      note: f.note,
    };
  });

  return {
    sent: sent.filter((s) => s.ok).length,
    delivered,
    lost,
    duplicates,
    latency,
    unreadMismatches,
    apiMismatches,
    deliveriesNotDelivered,
    inboxNotApplied,
    resent,
    deliveryAttempts,
    jobsLeft: jobsLeftTotal,
    failedDone,
    schedulerFailed,
    perFault,
    problems,
  };
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
