/**
 * Parley as production runs it: one web process (ROLE=web) and one worker process (ROLE=worker),
 * each its own Node, on a fresh database and queue prefix. The bench reads their peak RSS (VmHWM)
 * before stopping them; BENCH_CPU_PROF=<dir> makes each write a V8 CPU profile there on exit.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { stopProcess } from "../../test/helpers/processes.js";
import { deleteRedisPrefix, dropDatabase, freePort, TEST_PG, TEST_REDIS } from "../../test/helpers/parley.js";
import type { QueueBackend } from "../types.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

export interface ParleyProcesses {
  url: string;
  adminToken: string;
  databaseUrl: string;
  queuePrefix: string;
  /** A small pool on Parley's database, for seeding and checks. */
  sql: postgres.Sql;
  web: ChildProcess;
  worker: ChildProcess;
  /** Peak resident set size of each process so far, in MB (Linux /proc VmHWM). */
  peakRssMb(): Promise<{ web: number; worker: number }>;
  close(): Promise<void>;
}

function startRole(role: "web" | "worker", env: Record<string, string>): Promise<ChildProcess> {
  const profileDir = process.env.BENCH_CPU_PROF;
  const args = [...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${role}-${Date.now()}.cpuprofile`] : [])];
  // The V8 flags of `npm start` (package.json): see docs/benchmarks.md, memory.
  const child = spawn(process.execPath, [...args, "--max-semi-space-size=16", "--heap-growing-percent=50", ...(process.env.BENCH_EXTRA_NODE_FLAGS?.split(" ").filter(Boolean) ?? []), "--import", "tsx", "test/helpers/worker-process.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, ROLE: role },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      if (out.includes("ready\n")) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`${role} process exited early (${code})`)));
  });
}

async function peakRssMb(child: ChildProcess): Promise<number> {
  const status = await readFile(`/proc/${child.pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return Math.round(kb / 1024);
}

export async function startParleyProcesses(queue: QueueBackend, extraEnv: Record<string, string> = {}): Promise<ParleyProcesses> {
  const suffix = randomBytes(6).toString("hex");
  const databaseUrl = `${TEST_PG}/parley_bench_${suffix}`;
  const queuePrefix = `parley-bench-${suffix}`;
  const dataDir = await mkdtemp(path.join(tmpdir(), "parley-bench-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const adminToken = randomBytes(24).toString("hex");
  const env: Record<string, string> = {
    HOST: "127.0.0.1",
    PUBLIC_URL: url,
    DATABASE_URL: databaseUrl,
    ...(queue === "redis" ? { REDIS_URL: TEST_REDIS } : {}),
    DATA_DIR: dataDir,
    ADMIN_TOKEN: adminToken,
    ALLOW_PRIVATE_ADDRESS: "true",
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
    RATE_LIMIT_API: "off",
    RATE_LIMIT_INBOX: "off",
    TEST_QUEUE_PREFIX: queuePrefix,
    ...extraEnv,
  };
  // The web process creates and migrates the database; the worker starts once it is ready.
  const web = await startRole("web", { ...env, PORT: String(port) });
  let worker: ChildProcess;
  try {
    worker = await startRole("worker", { ...env, PORT: "0" });
  } catch (error) {
    await stopProcess(web);
    throw error;
  }
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  return {
    url,
    adminToken,
    databaseUrl,
    queuePrefix,
    sql,
    web,
    worker,
    async peakRssMb() {
      return { web: await peakRssMb(web), worker: await peakRssMb(worker) };
    },
    async close() {
      await sql.end();
      await Promise.all([stopProcess(web), stopProcess(worker)]);
      await dropDatabase(databaseUrl);
      if (queue === "redis") await deleteRedisPrefix(queuePrefix);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
