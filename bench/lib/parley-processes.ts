/**
 * Parley as production runs it: one web process (ROLE=web) and one worker process (ROLE=worker),
 * each its own Node, on a fresh database and queue prefix. The bench reads their peak RSS (VmHWM)
 * before stopping them; BENCH_CPU_PROF=<dir> makes each write a V8 CPU profile there on exit.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { deleteRedisPrefix, dropDatabase, freePort, TEST_PG, TEST_REDIS } from "../../test/helpers/parley.js";
import { stopProcess, untilReady } from "../../test/helpers/processes.js";
import type { QueueBackend } from "../types.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

export interface ParleyProcesses {
  url: string;
  adminToken: string;
  databaseUrl: string;
  queuePrefix: string;
  /** A small pool on Parley's database, for seeding and checks. */
  sql: postgres.Sql;
  /** The current processes (`restart` replaces them). */
  web: ChildProcess;
  worker: ChildProcess;
  /** Where the web process listens (differs from `url` when `publicPort` puts a proxy in front). */
  directUrl: string;
  /**
   * Stops one role (SIGKILL: at once, no shutdown; SIGTERM: graceful, as a deploy does) and starts
   * a new process of that role on the same database, queue prefix and port.
   */
  restart(role: "web" | "worker", signal?: "SIGKILL" | "SIGTERM"): Promise<ChildProcess>;
  /** Peak resident set size of each process so far, in MB (Linux /proc VmHWM). */
  peakRssMb(): Promise<{ web: number; worker: number }>;
  close(): Promise<void>;
}

/** Additions for bench/chaos.ts; every default keeps the benches' behaviour. */
export interface ParleyProcessOptions {
  /**
   * Base PostgreSQL URL the processes use (e.g. a TCP proxy's `postgres://postgres@127.0.0.1:PORT`);
   * the harness's own pool and the final DROP still go to TEST_PG directly.
   */
  processPg?: string;
  /** PUBLIC_URL on this port (a proxy in front of the web process, started by the caller). */
  publicPort?: number;
  /** Queue prefix to use instead of a fresh one (`close()` still deletes its keys). */
  queuePrefix?: string;
  /**
   * No queue prefix given: the processes use the config's default, `parley:{<PUBLIC_URL host>}`,
   * as `npm start` does (`queuePrefix` then reports that value).
   */
  defaultQueuePrefix?: boolean;
  /** Redis the processes use instead of TEST_REDIS (the chaos run's own server); keys not deleted. */
  redisUrl?: string;
  /** Where the processes' stderr (their logs) goes: a file descriptor, default inherited. */
  stderr?: number;
}

function startRole(role: "web" | "worker", env: Record<string, string>, stderr: number | "inherit" = "inherit"): Promise<ChildProcess> {
  const profileDir = process.env.BENCH_CPU_PROF;
  const args = [...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${role}-${Date.now()}.cpuprofile`] : [])];
  // The V8 flags of `npm start` (package.json): see docs/benchmarks.md, memory.
  const child = spawn(
    process.execPath,
    [
      ...args,
      "--max-semi-space-size=16",
      "--heap-growing-percent=50",
      ...(process.env.BENCH_EXTRA_NODE_FLAGS?.split(" ").filter(Boolean) ?? []),
      "--import",
      "tsx",
      "test/helpers/worker-process.ts",
    ],
    {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, ROLE: role },
      stdio: ["ignore", "pipe", stderr],
    },
  );
  return untilReady(child, role);
}

async function peakRssMb(child: ChildProcess): Promise<number> {
  const status = await readFile(`/proc/${child.pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return Math.round(kb / 1024);
}

export async function startParleyProcesses(
  queue: QueueBackend,
  extraEnv: Record<string, string> = {},
  options: ParleyProcessOptions = {},
): Promise<ParleyProcesses> {
  const suffix = randomBytes(6).toString("hex");
  const databaseUrl = `${TEST_PG}/parley_bench_${suffix}`;
  const processDatabaseUrl = options.processPg ? `${options.processPg}/parley_bench_${suffix}` : databaseUrl;
  const dataDir = await mkdtemp(path.join(tmpdir(), "parley-bench-"));
  const port = await freePort();
  const directUrl = `http://127.0.0.1:${port}`;
  const url = options.publicPort ? `http://127.0.0.1:${options.publicPort}` : directUrl;
  const queuePrefix = options.defaultQueuePrefix ? `parley:{${new URL(url).host}}` : (options.queuePrefix ?? `parley-bench-${suffix}`);
  const adminToken = randomBytes(24).toString("hex");
  const stderr = options.stderr ?? "inherit";
  const env: Record<string, string> = {
    HOST: "127.0.0.1",
    PUBLIC_URL: url,
    DATABASE_URL: processDatabaseUrl,
    ...(queue === "redis" ? { REDIS_URL: options.redisUrl ?? TEST_REDIS } : {}),
    DATA_DIR: dataDir,
    ADMIN_TOKEN: adminToken,
    ALLOW_PRIVATE_ADDRESS: "true",
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
    RATE_LIMIT_API: "off",
    RATE_LIMIT_INBOX: "off",
    RATE_LIMIT_INBOX_IP: "off",
    ...(options.defaultQueuePrefix ? {} : { TEST_QUEUE_PREFIX: queuePrefix }),
    ...extraEnv,
  };
  // The web process creates and migrates the database; the worker starts once it is ready.
  const roleEnv = { web: { ...env, PORT: String(port) }, worker: { ...env, PORT: "0" } };
  const web = await startRole("web", roleEnv.web, stderr);
  let worker: ChildProcess;
  try {
    worker = await startRole("worker", roleEnv.worker, stderr);
  } catch (error) {
    await stopProcess(web);
    throw error;
  }
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  const processes: ParleyProcesses = {
    url,
    directUrl,
    adminToken,
    databaseUrl,
    queuePrefix,
    sql,
    web,
    worker,
    async restart(role, signal = "SIGKILL") {
      const old = processes[role];
      if (signal === "SIGKILL") {
        if (old.exitCode === null && old.signalCode === null) {
          const exited = once(old, "exit");
          old.kill("SIGKILL");
          await exited;
        }
      } else await stopProcess(old);
      processes[role] = await startRole(role, roleEnv[role], stderr);
      return processes[role];
    },
    async peakRssMb() {
      return { web: await peakRssMb(processes.web), worker: await peakRssMb(processes.worker) };
    },
    async close() {
      // Bounded: a query stuck on a dead connection must not hang the caller.
      await sql.end({ timeout: 5 });
      await Promise.all([stopProcess(processes.web), stopProcess(processes.worker)]);
      await dropDatabase(databaseUrl);
      if (queue === "redis" && !options.redisUrl) await deleteRedisPrefix(queuePrefix);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return processes;
}
