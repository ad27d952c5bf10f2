import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { freePort } from "../../test/helpers/parley.js";

/**
 * The chaos run's own redis-server (the machine's shared one on 6379 is never stopped): no
 * background saves, but `stop()` is a SHUTDOWN SAVE and `start()` loads that dump, so an outage
 * keeps the data as a Redis restart with persistence does (stopped, not flushed).
 */
export interface ChaosRedis {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** SCAN + DEL of every key under `prefix:` (the instances' queues: a flush of one deployment). */
  deletePrefix(prefix: string): Promise<number>;
  close(): Promise<void>;
}

export async function startChaosRedis(): Promise<ChaosRedis> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), "parley-chaos-redis-"));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--dbfilename",
    "chaos.rdb",
  ];
  const client = () => new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null }).on("error", () => {});
  const start = async () => {
    child = spawn("redis-server", args, { stdio: "ignore" });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const redis = client();
      const ok = await redis
        .connect()
        .then(
          () => redis.ping(),
          () => undefined,
        )
        .catch(() => undefined);
      redis.disconnect();
      if (ok === "PONG") return;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const stop = async (save: boolean) => {
    const running = child;
    if (!running || running.exitCode !== null) return;
    const exited = once(running, "exit");
    const redis = client();
    await redis.connect().catch(() => {});
    await redis.call("SHUTDOWN", save ? "SAVE" : "NOSAVE").catch(() => {}); // the connection closes under it
    redis.disconnect();
    await exited;
  };
  // Never left behind by a run that ends early (Ctrl-C, a crash of the harness).
  process.on("exit", () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
  });
  await start();
  return {
    url,
    stop: () => stop(true),
    start,
    async deletePrefix(prefix) {
      const redis = new Redis(url);
      let deleted = 0;
      try {
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
          cursor = next;
          if (keys.length) deleted += await redis.del(...keys);
        } while (cursor !== "0");
      } finally {
        redis.disconnect();
      }
      return deleted;
    },
    async close() {
      await stop(false);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
