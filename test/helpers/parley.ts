import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import postgres from "postgres";
import { loadConfig } from "../../src/config/config.js";
import type { DeliveryTuning } from "../../src/federation/outgoing/policy.js";
import { type Parley, startParley } from "../../src/server.js";
import { createLogger } from "../../src/shared/logger.js";
import type { StreamingTuning } from "../../src/streaming/streaming.js";

/** Test services: the machine's PostgreSQL and Redis (see README). Overridable for other setups. */
export const TEST_PG = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432";
export const TEST_REDIS = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export type QueueKind = "redis" | "postgres";

export interface TestParley {
  parley: Parley;
  url: string;
  adminToken: string;
  databaseUrl: string;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export interface StartTestParleyOptions {
  queue?: QueueKind;
  env?: Record<string, string>;
  role?: "all" | "web" | "worker";
  /** ADMIN_TOKEN to set; `null` leaves it unset (Parley then generates one in DATA_DIR). Default: random. */
  adminToken?: string | null;
  /** Use this DATA_DIR instead of a fresh temporary one; it is then left in place by `close()`. */
  dataDir?: string;
  /** Use this database instead of a fresh one; it is then not dropped by `close()`. */
  databaseUrl?: string;
  /** Redis key prefix of the queues; default: fresh per instance. Given, it is not cleaned by `close()`. */
  queuePrefix?: string;
  /** Where the service's JSON logs go (default: stdout, at TEST_LOG_LEVEL or silent). */
  logStream?: { write(line: string): void };
  /** Shorter delivery timings (StartOptions.deliveryTuning). */
  deliveryTuning?: Partial<DeliveryTuning>;
  /** Shorter heartbeats, a smaller send buffer cap (StartOptions.streamingTuning). */
  streamingTuning?: Partial<StreamingTuning>;
}

/**
 * A whole Parley (web + workers) on its own database and its own Redis prefix, so test files
 * run in parallel without seeing each other.
 */
export async function startTestParley(options: StartTestParleyOptions = {}): Promise<TestParley> {
  const suffix = randomBytes(6).toString("hex");
  const databaseUrl = options.databaseUrl ?? `${TEST_PG}/parley_test_${suffix}`;
  const port = await freePort();
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), "parley-test-")));
  const adminToken = options.adminToken === undefined ? randomBytes(24).toString("hex") : options.adminToken;
  const queuePrefix = options.queuePrefix ?? `parley-test-${suffix}`;
  const config = loadConfig({
    PORT: String(port),
    HOST: "127.0.0.1",
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    DATABASE_URL: databaseUrl,
    ...(options.queue === "redis" ? { REDIS_URL: TEST_REDIS } : {}),
    DATA_DIR: dataDir,
    ...(adminToken !== null ? { ADMIN_TOKEN: adminToken } : {}),
    ALLOW_PRIVATE_ADDRESS: "true",
    ROLE: options.role ?? "all",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    // Tests poll the API far faster than any client: limits only where a test sets them.
    RATE_LIMIT_API: "off",
    RATE_LIMIT_INBOX: "off",
    RATE_LIMIT_INBOX_IP: "off",
    ...options.env,
  });
  const parley = await startParley(config, createLogger(config.logLevel, options.logStream), {
    queuePrefix,
    deliveryTuning: options.deliveryTuning,
    streamingTuning: options.streamingTuning,
  });
  return {
    parley,
    url: parley.url ?? config.publicUrl,
    adminToken: parley.deps.adminToken,
    databaseUrl: config.databaseUrl ?? databaseUrl,
    async close() {
      await parley.close();
      if (!options.databaseUrl) await dropDatabase(databaseUrl);
      if (options.queue === "redis" && !options.queuePrefix) await deleteRedisPrefix(queuePrefix);
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = url.pathname.slice(1);
  url.pathname = "/postgres";
  const sql = postgres(url.href, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await sql.end();
  }
}

export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** A tiny JSON client: `api(base, token).get("/api/…")`. */
export function api(base: string, token?: string) {
  const call = async <T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (token) (init.headers as Record<string, string>).authorization = `Bearer ${token}`;
    if (body instanceof FormData || body instanceof URLSearchParams) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] = "application/json";
    }
    const response = await fetch(new URL(path, base), init);
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed as T };
  };
  return {
    get: <T = any>(path: string, headers?: Record<string, string>) => call<T>("GET", path, undefined, headers),
    post: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>("POST", path, body, headers),
    put: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>("PUT", path, body, headers),
    patch: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>("PATCH", path, body, headers),
    delete: <T = any>(path: string, headers?: Record<string, string>) => call<T>("DELETE", path, undefined, headers),
  };
}

/** Creates a local account through the admin API; returns its JSON and token. */
export async function createAccount(
  instance: Pick<TestParley, "url" | "adminToken">,
  username: string,
  extra: Record<string, unknown> = {},
) {
  const response = await api(instance.url, instance.adminToken).post("/api/v1/admin/accounts", { username, ...extra });
  if (response.status !== 201) throw new Error(`account ${username}: ${response.status} ${JSON.stringify(response.body)}`);
  return { account: response.body.account as { id: string; username: string; acct: string }, token: response.body.access_token as string };
}
