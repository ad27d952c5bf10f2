import type { TcpProxy } from "../../test/helpers/tcp-proxy.js";
import type { QueueBackend } from "../types.js";
import type { FrontProxy } from "./front-proxy.js";
import type { ChaosRedis } from "./redis-server.js";
import { type Fault, type Side, sleep } from "./types.js";

/** How long each timed fault lasts. */
export const FAULT_TIMES = {
  pgCutMs: 8_000,
  workerKillIntoCutMs: 2_000,
  inboxOutageMs: 10_000,
  redisOutageMs: 30_000,
  workerKillIntoOutageMs: 5_000,
  gapMs: 2_000,
};

export interface FaultDeps {
  A: Side;
  B: Side;
  queue: QueueBackend;
  pgProxy: TcpProxy;
  front: FrontProxy;
  redis?: ChaosRedis;
  /** Processes being killed or restarted on purpose ("A/web"): the watcher leaves them alone. */
  killing: Set<string>;
  /** Posts a burst of messages both ways at once (API and inbox requests in flight). */
  burst(): void;
  log(message: string): void;
}

/**
 * Stops one process and starts a new one as a supervisor would: again and again (a new process
 * exits at once while PostgreSQL is away) until one is up. Resolves when it is.
 */
async function restartUntilUp(side: Side, role: "web" | "worker", killing: Set<string>, boundMs = 180_000): Promise<void> {
  const key = `${side.name}/${role}`;
  killing.add(key);
  const deadline = Date.now() + boundMs;
  try {
    for (;;) {
      try {
        await side.p.restart(role, "SIGKILL");
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(1_000);
      }
    }
  } finally {
    killing.delete(key);
  }
}

/**
 * The faults, one after the other (each starts when the previous one is over and its processes
 * are back), while the send loop keeps posting. Those that make B's inbox fail come first, so that
 * no delivery to B can reach the shortened retry horizon (see bench/chaos.ts, TUNING.horizonMs),
 * and the host-pause spread they cause (deliveries held up to 60 s) overlaps the later faults.
 */
export async function runFaults(d: FaultDeps, faults: Fault[]): Promise<void> {
  const { A, B, log } = d;
  const both = [A, B];
  const gap = () => sleep(FAULT_TIMES.gapMs);
  {
    const start = Date.now();
    const before = d.front.refused;
    d.front.failing = true;
    await sleep(FAULT_TIMES.inboxOutageMs);
    d.front.failing = false;
    faults.push({
      name: "inbox-failure",
      start,
      end: Date.now(),
      note: `B's inbox 503 for ${FAULT_TIMES.inboxOutageMs / 1000} s (${d.front.refused - before} POSTs refused)`,
    });
    log(`fault inbox-failure: over, ${d.front.refused - before} POSTs refused`);
  }
  await gap();
  {
    // A web process killed under load: a burst of posts both ways goes out first, so that API
    // requests and inbox POSTs (A's deliveries to B) are in flight when B's web process dies.
    const start = Date.now();
    const cutBefore = d.front.upstreamErrors;
    d.burst();
    await sleep(150);
    await restartUntilUp(B, "web", d.killing);
    const note = `SIGKILL B's web under a burst; ${d.front.upstreamErrors - cutBefore} inbox POSTs to B cut or refused`;
    faults.push({ name: "web-kill", start, end: Date.now(), note });
    log(`fault web-kill: B's web back (${note})`);
  }
  await gap();
  {
    // Overlapping faults: PostgreSQL cut, then both workers SIGKILLed inside the cut; their
    // replacements cannot start until PostgreSQL is back (restarted until one comes up).
    const start = Date.now();
    await d.pgProxy.cut();
    log(`fault pg-cut+worker-kill: PostgreSQL cut for ${FAULT_TIMES.pgCutMs / 1000} s`);
    await sleep(FAULT_TIMES.workerKillIntoCutMs);
    const restarted = Promise.all(both.map((side) => restartUntilUp(side, "worker", d.killing)));
    log("fault pg-cut+worker-kill: workers SIGKILLed during the cut");
    await sleep(FAULT_TIMES.pgCutMs - FAULT_TIMES.workerKillIntoCutMs);
    await d.pgProxy.restore();
    const end = Date.now();
    await restarted;
    faults.push({
      name: "pg-cut+worker-kill",
      start,
      end,
      recovered: Date.now(),
      note: `PostgreSQL cut ${FAULT_TIMES.pgCutMs / 1000} s, both workers killed 2 s into it`,
    });
    log("fault pg-cut+worker-kill: PostgreSQL back, workers up");
  }
  if (d.queue !== "redis" || !d.redis) {
    // Without Redis the last fault is a worker kill alone (with Redis, it falls inside the outage).
    await gap();
    const start = Date.now();
    await Promise.all(both.map((side) => restartUntilUp(side, "worker", d.killing)));
    faults.push({ name: "worker-kill", start, end: Date.now(), note: "SIGKILL A's and B's worker; new ones started" });
    log("fault worker-kill: new workers ready");
    log("faults redis-flush, redis-outage: skipped (queue backend postgres)");
    return;
  }
  await gap();
  {
    const start = Date.now();
    const deleted = (await d.redis.deletePrefix(A.p.queuePrefix)) + (await d.redis.deletePrefix(B.p.queuePrefix));
    faults.push({ name: "redis-flush", start, end: Date.now(), note: `${deleted} keys of both queue prefixes deleted` });
    log(`fault redis-flush: ${deleted} keys under ${A.p.queuePrefix} and ${B.p.queuePrefix} deleted`);
  }
  await gap();
  {
    const start = Date.now();
    await d.redis.stop();
    log(`fault redis-outage+worker-kill: Redis stopped (SHUTDOWN SAVE) for ${FAULT_TIMES.redisOutageMs / 1000} s`);
    // Overlapping: both workers killed inside the outage; their replacements wait for Redis.
    await sleep(FAULT_TIMES.workerKillIntoOutageMs);
    const restarted = Promise.all(both.map((side) => restartUntilUp(side, "worker", d.killing)));
    log("fault redis-outage+worker-kill: workers SIGKILLed during the outage");
    await sleep(FAULT_TIMES.redisOutageMs - FAULT_TIMES.workerKillIntoOutageMs);
    await d.redis.start();
    const end = Date.now();
    log("fault redis-outage+worker-kill: Redis started again");
    await restarted;
    const note = `Redis server stopped ${FAULT_TIMES.redisOutageMs / 1000} s (restarted with its data), both workers killed 5 s into it`;
    faults.push({ name: "redis-outage+worker-kill", start, end, recovered: Date.now(), note });
    log("fault redis-outage+worker-kill: workers up");
  }
}
