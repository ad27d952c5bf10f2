/**
 * CPU time of the processes a bench drives, read from Linux /proc before and after a measured
 * window (utime + stime of /proc/<pid>/stat, all threads of the process, clock-tick resolution).
 * PostgreSQL is every process whose command line is `postgres…`: the bench database's backends,
 * the postmaster and the server's own processes (WAL writer, checkpointer…), but also backends of
 * other databases if something else uses the server meanwhile; the bench database's backends are
 * also counted apart. Backends that exit inside the window are caught through the postmaster's
 * cutime/cstime (the CPU of the children it reaped).
 */
import { execFileSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";

let ticksPerSecond = 100;
try {
  ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch {
  // getconf missing: Linux's usual USER_HZ
}

interface ProcStat {
  /** utime + stime, ms. */
  ownMs: number;
  /** cutime + cstime (reaped children), ms. */
  childrenMs: number;
}

async function procStat(pid: number | "self"): Promise<ProcStat | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const ms = (i: number) => (Number(fields[i]) * 1000) / ticksPerSecond;
    // fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
    return { ownMs: ms(11) + ms(12), childrenMs: ms(13) + ms(14) };
  } catch {
    return undefined; // gone
  }
}

async function cmdline(pid: string): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, "utf8")).replaceAll("\0", " ").trim();
  } catch {
    return "";
  }
}

/** PostgreSQL processes now: pid → utime+stime, the postmaster's reaped-children time, and the bench database's backends. */
async function postgresSnapshot(database: string): Promise<{ all: Map<number, number>; reapedMs: number; benchDb: Map<number, number> }> {
  const all = new Map<number, number>();
  const benchDb = new Map<number, number>();
  let reapedMs = 0;
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const command = await cmdline(entry);
    // The postmaster runs as `…/bin/postgres -D …`; its children retitle themselves `postgres: …`.
    const isPostmaster = /(^|\/)postgres\s+-D\b/.test(command);
    if (!isPostmaster && !command.startsWith("postgres:")) continue;
    const stat = await procStat(Number(entry));
    if (!stat) continue;
    all.set(Number(entry), stat.ownMs);
    if (isPostmaster) reapedMs += stat.childrenMs;
    // A backend's title: `postgres: <cluster>: <user> <database> <client> <state>`.
    if (command.split(/\s+/).includes(database)) benchDb.set(Number(entry), stat.ownMs);
  }
  return { all, reapedMs, benchDb };
}

/** Sum over processes of (after − before); a process new in the window counts from zero. */
function grown(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, ms] of after) sum += Math.max(0, ms - (before.get(pid) ?? 0));
  return sum;
}

/**
 * CPU of the postgres processes that exited in the window: what the postmaster reaped meanwhile
 * (whole lifetimes) minus what those processes had already spent when the window began.
 */
function exitedInWindow(
  before: { all: Map<number, number>; reapedMs: number },
  after: { all: Map<number, number>; reapedMs: number },
): number {
  let spentBefore = 0;
  for (const [pid, ms] of before.all) if (!after.all.has(pid)) spentBefore += ms;
  return Math.max(0, after.reapedMs - before.reapedMs - spentBefore);
}

/** redis-server's pid, as the server reports it (`INFO server` process_id); undefined when unreachable. */
export function redisServerPid(redisUrl: string): number | undefined {
  try {
    const info = execFileSync("redis-cli", ["-u", redisUrl, "info", "server"], { encoding: "utf8", timeout: 5_000 });
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export interface CpuTargets {
  web: number;
  worker: number;
  /** Name of the bench's database (its backends are counted apart). */
  database: string;
  redisPid?: number;
}

/** CPU ms spent by each process during the window. */
export interface CpuSpent {
  web: number;
  worker: number;
  /** Every postgres process, plus backends that exited in the window. */
  postgresAll: number;
  /** The bench database's backends only (those alive at the end of the window). */
  postgresBenchDb: number;
  /** The bench runner's own process: the inbox sink and the bench's bookkeeping. */
  runner: number;
  /** Children of the runner that exited and were reaped in the window (the load generator). */
  runnerChildren: number;
  redis?: number;
}

async function snapshot(targets: CpuTargets) {
  const [web, worker, runner, redis, pg] = await Promise.all([
    procStat(targets.web),
    procStat(targets.worker),
    procStat("self"),
    targets.redisPid ? procStat(targets.redisPid) : Promise.resolve(undefined),
    postgresSnapshot(targets.database),
  ]);
  return { web, worker, runner, redis, pg };
}

/** Starts a window; the function it returns ends it and gives the CPU spent by each process. */
export async function startCpuWindow(targets: CpuTargets): Promise<() => Promise<CpuSpent>> {
  const before = await snapshot(targets);
  return async () => {
    const after = await snapshot(targets);
    const delta = (a?: number, b?: number) => (a !== undefined && b !== undefined ? Math.max(0, b - a) : Number.NaN);
    return {
      web: delta(before.web?.ownMs, after.web?.ownMs),
      worker: delta(before.worker?.ownMs, after.worker?.ownMs),
      postgresAll: grown(before.pg.all, after.pg.all) + exitedInWindow(before.pg, after.pg),
      postgresBenchDb: grown(before.pg.benchDb, after.pg.benchDb),
      runner: delta(before.runner?.ownMs, after.runner?.ownMs),
      runnerChildren: delta(before.runner?.childrenMs, after.runner?.childrenMs),
      ...(targets.redisPid ? { redis: delta(before.redis?.ownMs, after.redis?.ownMs) } : {}),
    };
  };
}
