/**
 * Chaos run (issue 7, part 3; issue 13, item 10): two Parley instances A and B, each a web and a
 * worker process as production runs them, on their default queue prefixes (`parley:{host}`), chat
 * over loopback while faults are injected; afterwards every message must be shown exactly once on
 * both sides and nothing may be left pending.
 *
 *   npx tsx bench/chaos.ts [--messages 1000] [--queue redis|postgres] [--pairs 4] [--send-seconds S] [--down-messages 3]
 *
 * Faults, one after the other during the send phase (bench/chaos/faults.ts):
 *   inbox-failure       an HTTP proxy in front of B (B's PUBLIC_URL) answers 503 to inbox POSTs, 10 s
 *   web-kill            a burst of posts both ways, then SIGKILL B's web process (inbox POSTs and API
 *                       requests in flight), restarted at once
 *   pg-cut+worker-kill  a TCP proxy in front of PostgreSQL closes every connection and refuses new
 *                       ones for 8 s; both workers are SIGKILLed 2 s into it and restarted until up
 *   redis-flush         delete every key under A's and B's queue prefixes (Redis only)
 *   redis-outage+worker-kill  the run's own redis-server stopped (SHUTDOWN SAVE) for 30 s, then
 *                       started again with its data; both workers SIGKILLed 5 s into it (Redis only;
 *                       the machine's shared Redis is never touched)
 *   worker-kill         without Redis: SIGKILL both worker processes, start new ones at once
 * and throughout, receiver-down: a third server C that A writes to is down for the whole run; once
 * the send phase is over its deliveries are dated back past the 48 h retry horizon, so the next
 * failed attempt gives them up: they must end `failed` and the sender must see it
 * (bench/chaos/receiver-down.ts).
 * Clients post through the API with an Idempotency-Key and retry 5xx/network errors with the same
 * key, as a real client would. Exit code 0 only when nothing is lost, duplicated, miscounted or
 * left pending, C's deliveries all failed and were shown so, and no process exited on its own.
 * See docs/reliability-chaos-notes.md.
 */
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { startTcpProxy } from "../test/helpers/tcp-proxy.js";
import { check } from "./chaos/check.js";
import { must } from "./chaos/client.js";
import { runFaults } from "./chaos/faults.js";
import { startFrontProxy } from "./chaos/front-proxy.js";
import { arrivedCount, openQueueView, pendingState } from "./chaos/queue-view.js";
import { startDownReceiver } from "./chaos/receiver-down.js";
import { startChaosRedis } from "./chaos/redis-server.js";
import { printReport } from "./chaos/report.js";
import { sendLoop } from "./chaos/send.js";
import { type Fault, type Side, sleep } from "./chaos/types.js";
import { startParleyProcesses } from "./lib/parley-processes.js";
import { round } from "./lib/stats.js";
import type { QueueBackend } from "./types.js";

const { values: args } = parseArgs({
  options: {
    messages: { type: "string", default: "1000" },
    queue: { type: "string", default: "redis" },
    pairs: { type: "string", default: "4" },
    "send-seconds": { type: "string" },
    "drain-seconds": { type: "string", default: "240" },
    "down-messages": { type: "string", default: "3" },
  },
});
const MESSAGES = Number(args.messages);
const QUEUE = args.queue as QueueBackend;
const PAIRS = Number(args.pairs);
const DOWN_MESSAGES = Number(args["down-messages"]);
if (!(MESSAGES >= 8) || !(PAIRS >= 1) || !(DOWN_MESSAGES >= 0) || (QUEUE !== "redis" && QUEUE !== "postgres")) {
  console.error(
    "usage: npx tsx bench/chaos.ts [--messages N≥8] [--queue redis|postgres] [--pairs P] [--send-seconds S] [--down-messages K]",
  );
  process.exit(2);
}
/**
 * The send phase: messages spread evenly over it (12/s for 1,000), long enough for every fault
 * (they take 70–110 s with Redis, 50–80 s without, as restarts go); it goes on past it while a fault is under way.
 */
const SEND_MS = Number(args["send-seconds"] ?? Math.max(QUEUE === "redis" ? 75 : 50, Math.ceil(MESSAGES / 12))) * 1000;
const DRAIN_MS = Number(args["drain-seconds"]) * 1000;

/**
 * Shorter delivery timings (test hook TEST_DELIVERY_TUNING, as the tests use): production waits
 * 1 min before the first retry, pauses a failing host for 30 min and reconciles after a 1 min
 * grace; a chaos run must drain in minutes. The logic is production's. The 48 h horizon is kept:
 * a shorter one would give up deliveries to B that faults and backlog held for minutes (a
 * 1,000-message run on a loaded machine saw 4-minute latencies); C's rows are dated back instead.
 */
const TUNING = {
  backoffBaseMs: 1_000,
  maxDelayMs: 5_000,
  pauseThreshold: 5,
  pauseWindowMs: 60_000,
  pauseMs: 5_000,
  requestTimeoutMs: 10_000,
  connectTimeoutMs: 3_000,
  // A killed worker's per-host slots are free again after this (production 90 s: three request
  // timeouts); at 90 s every SIGKILL held the killed workers' hosts for a minute and a half.
  slotLeaseMs: 15_000,
  reconcileEveryMs: 5_000,
  reconcileGraceMs: 5_000,
  lockDurationMs: 10_000,
  stalledIntervalMs: 5_000,
};

const runId = randomBytes(3).toString("hex");
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const log = (msg: string) => console.log(`[chaos ${elapsed()}] ${msg}`);
const TAG_RE = new RegExp(`c${runId}-(\\d+)-x`);

async function main() {
  const logPath = path.join(tmpdir(), `parley-chaos-${runId}.log`);
  const logFd = openSync(logPath, "a");
  log(`run ${runId}: ${MESSAGES} messages, ${PAIRS} pairs, queue ${QUEUE}, send phase ${SEND_MS / 1000} s; process logs in ${logPath}`);

  const redis = QUEUE === "redis" ? await startChaosRedis() : undefined;
  const pgProxy = await startTcpProxy(
    "127.0.0.1",
    Number(new URL(process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432").port || 5432),
  );
  const front = await startFrontProxy();
  const processPg = `postgres://postgres@127.0.0.1:${pgProxy.port}`;
  const env = { TEST_DELIVERY_TUNING: JSON.stringify(TUNING), LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "info" };
  const common = { processPg, stderr: logFd, defaultQueuePrefix: true, redisUrl: redis?.url };
  const [pa, pb] = await Promise.all([
    startParleyProcesses(QUEUE, env, common),
    startParleyProcesses(QUEUE, env, { ...common, publicPort: front.port }),
  ]);
  front.target = Number(new URL(pb.directUrl).port);
  const A: Side = { name: "A", p: pa, api: pa.directUrl, accounts: [] };
  const B: Side = { name: "B", p: pb, api: pb.directUrl, accounts: [] };
  log(
    `A at ${pa.url} (queues ${pa.queuePrefix}), B at ${pb.url} (web ${pb.directUrl}, queues ${pb.queuePrefix}); PostgreSQL via proxy :${pgProxy.port}${redis ? `; Redis ${redis.url}` : ""}`,
  );

  let exitCode = 1;
  const watch = { stop: false, unexpectedExits: [] as string[] };
  let watcher: Promise<void> = Promise.resolve();
  try {
    // Accounts, lookups both ways, one chat on each side of each pair.
    for (let i = 0; i < PAIRS; i++) {
      for (const side of [A, B]) {
        const created = await must(side.p.url, side.p.adminToken, "POST", "/api/v1/admin/accounts", {
          username: `${side.name.toLowerCase()}${i}`,
        });
        side.accounts.push({
          id: created.account.id,
          username: created.account.username,
          token: created.access_token,
          chatId: "",
          peerId: "",
        });
      }
    }
    for (const [side, other] of [
      [A, B],
      [B, A],
    ] as const) {
      for (let i = 0; i < PAIRS; i++) {
        const me = side.accounts[i];
        const peer = other.accounts[i];
        const found = await must(
          side.api,
          me.token,
          "GET",
          `/api/v1/accounts/lookup?acct=${encodeURIComponent(`${peer.username}@${new URL(other.p.url).host}`)}`,
        );
        const chat = await must(side.api, me.token, "POST", `/api/v1/pleroma/chats/by-account-id/${found.id}`);
        me.chatId = chat.id;
        me.peerId = found.id;
      }
    }
    const down = DOWN_MESSAGES > 0 ? await startDownReceiver(A) : undefined;
    // First thing: their deliveries have the whole run to reach the horizon.
    if (down) await down.send(DOWN_MESSAGES, runId);
    log(`accounts and chats ready${down ? `; ${DOWN_MESSAGES} messages written to C (${down.host}), which is down` : ""}`);

    // Watch for processes that die on their own (not killed by a fault): recorded and restarted.
    const killing = new Set<string>();
    watcher = (async () => {
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

    const faults: Fault[] = [];
    const sender = sendLoop({ A, B, pairs: PAIRS, messages: MESSAGES, sendMs: SEND_MS, runId, log });
    const faultRun = runFaults({ A, B, queue: QUEUE, pgProxy, front, redis, killing, burst: () => sender.burst(10), log }, faults).finally(
      () => sender.faultsOver(),
    );
    const sent = await sender.done;
    await faultRun;
    if (down)
      log(`receiver down: ${await retry(() => down.pastHorizon(), "dating back")} deliveries to C dated back past the retry horizon`);
    const sendEnd = Date.now();
    const okSent = sent.filter((s) => s.ok);
    log(
      `send phase over: ${okSent.length} of ${sent.length} accepted by the API (${sent.filter((s) => s.tries > 1).length} after retries)`,
    );

    // Drain: wait until nothing is pending, no job is left and every message arrived (bounded).
    const redisUrl = redis?.url ?? "";
    const views = await Promise.all([A, B].map((side) => retry(() => openQueueView(side.p, QUEUE, redisUrl), "queue view", DRAIN_MS)));
    let drainedAt: number | undefined;
    let quietSince: number | undefined;
    let last = "";
    while (Date.now() - sendEnd < DRAIN_MS) {
      let summary: string;
      let complete: boolean;
      let stuck: boolean;
      try {
        const state = await Promise.all([A, B].map((side, i) => pendingState(side, views[i])));
        const arrived = await arrivedCount([A, B], runId, TAG_RE);
        const downPending = (await down?.pending()) ?? 0;
        // C's deliveries (and their jobs) wait for the horizon; everything else must be done.
        const othersDone =
          state.every((s) => s.inboxPending === 0) && state[1].deliveriesPending === 0 && state[0].deliveriesPending === downPending;
        complete = othersDone && downPending === 0 && state.every((s) => s.jobsLeft === 0) && arrived >= okSent.length;
        stuck = othersDone && arrived < okSent.length;
        summary = `A ${JSON.stringify(state[0])} B ${JSON.stringify(state[1])} arrived ${arrived}/${okSent.length}${down ? ` C pending ${downPending}` : ""}`;
      } catch (error) {
        log(`drain: check failed (${(error as Error).message}); again`);
        await sleep(1_000);
        continue;
      }
      if (summary !== last) log(`drain: ${summary}`);
      last = summary;
      if (complete) {
        drainedAt = Date.now();
        break;
      }
      // Nothing pending anywhere and messages still missing: they are lost, no use waiting.
      if (stuck) {
        quietSince ??= Date.now();
        if (Date.now() - quietSince > 15_000) break;
      } else quietSince = undefined;
      await sleep(1_000);
    }
    const drainMs = drainedAt ? drainedAt - sendEnd : undefined;
    log(drainedAt ? `drained ${round(drainMs! / 1000, 1)} s after the send phase` : "NOT drained within the bound");

    const report = await retry(() => check(A, B, sent, faults, views, { tagRe: TAG_RE, runId, started, downHost: down?.host }), "checks");
    const downReport = down ? await retry(() => down.check(), "receiver-down check") : undefined;
    for (const view of views) await view.close();
    watch.stop = true;
    await watcher;

    const ok = printReport({
      queue: QUEUE,
      messages: MESSAGES,
      runId,
      started,
      sent,
      report,
      downReport,
      drainMs,
      unexpectedExits: watch.unexpectedExits,
    });
    exitCode = ok ? 0 : 1;
  } catch (error) {
    console.error("chaos run aborted:", error);
  } finally {
    watch.stop = true;
    await watcher.catch(() => {});
    // Bounded: a cleanup that hangs (a pool waiting on a dead connection) must not hang CI.
    await Promise.race([Promise.allSettled([pa.close(), pb.close()]), sleep(60_000)]);
    await pgProxy.close();
    await front.close();
    await redis?.close();
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

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
