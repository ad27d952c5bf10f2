import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { TEST_REDIS, type TestParley } from "./parley.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Where a spawned process finds its instance: the database, public URL and admin token it shares. */
export type InstancePlace = Pick<TestParley, "databaseUrl" | "url" | "adminToken">;

/**
 * Spawns a Parley process (test/helpers/worker-process.ts: the production entry plus the test's
 * queue prefix and timings) of `instance`, a worker unless `env` sets ROLE; wait for it with
 * `untilReady`. `env` adds or overrides variables (ROLE, PORT, SHUTDOWN_TIMEOUT_MS, TEST_DELIVERY_TUNING…).
 */
export function spawnParleyProcess(
  instance: InstancePlace,
  options: { queuePrefix: string; dataDir: string; env?: Record<string, string> },
): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", "test/helpers/worker-process.ts"], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ROLE: "worker",
      // Its /metrics + /healthz listener takes any free port (several such processes run at once).
      PORT: "0",
      DATABASE_URL: instance.databaseUrl,
      REDIS_URL: TEST_REDIS,
      PUBLIC_URL: instance.url,
      ADMIN_TOKEN: instance.adminToken,
      DATA_DIR: options.dataDir,
      ALLOW_PRIVATE_ADDRESS: "true",
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
      TEST_QUEUE_PREFIX: options.queuePrefix,
      ...options.env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
}

/** A worker process on the database and Redis prefix of `web`, once it prints `ready`. */
export function spawnWorkerProcess(
  web: InstancePlace,
  options: { queuePrefix: string; dataDir: string; env?: Record<string, string> },
): Promise<ChildProcess> {
  return untilReady(spawnParleyProcess(web, options), "worker");
}

/** Resolves with `child` once it prints `ready` (test/helpers/worker-process.ts); rejects if it exits first. */
export function untilReady(child: ChildProcess, role: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      if (out.includes("ready\n")) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`${role} process exited early (${code})`)));
  });
}

/** SIGTERM, then SIGKILL after 10 s; resolves when the process is gone. */
export async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
