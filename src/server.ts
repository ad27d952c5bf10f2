import { createServer, type Server } from "node:http";
import { startWorkers, type Workers } from "../workers/index.js";
import { buildApp } from "./app.js";
import { resolveAdminToken } from "./config/admin-token.js";
import type { Config } from "./config/config.js";
import { connect, type Database, ensureDatabase, migrateDatabase } from "./db/database.js";
import type { EmbeddedDatabase } from "./db/embedded.js";
import { buildFederation } from "./federation/federation.js";
import type { DeliveryTuning } from "./federation/outgoing/policy.js";
import { createMetrics } from "./ops/metrics.js";
import { startWorkerListener } from "./ops/worker-listener.js";
import { openQueues, queueBackend } from "./queues/queues.js";
import type { Deps } from "./shared/deps.js";
import type { Logger } from "./shared/logger.js";
import { routeFedifyLogs } from "./shared/logger.js";
import { type Streaming, type StreamingTuning, startStreaming } from "./streaming/streaming.js";

export interface Parley {
  deps: Deps;
  /** Base URL the HTTP server listens on (web roles only). */
  url: string | undefined;
  /**
   * Stops accepting, lets in-flight requests and jobs finish within `config.shutdownTimeoutMs`
   * (then cuts them: a cut job runs again elsewhere), closes the queues and pools.
   */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Redis key prefix of the queues (tests isolate themselves with it). */
  queuePrefix?: string;
  /** Tests only: shorter delivery timeouts, backoff, locks (never set from the environment). */
  deliveryTuning?: Partial<DeliveryTuning>;
  /** Tests only: shorter heartbeats, a smaller send buffer cap, faster LISTEN reconnection. */
  streamingTuning?: Partial<StreamingTuning>;
}

/** Starts the roles `config.role` asks for; `close()` stops them in reverse order. */
export async function startParley(config: Config, logger: Logger, options: StartOptions = {}): Promise<Parley> {
  await routeFedifyLogs(logger);
  let embedded: EmbeddedDatabase | undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    // Loaded only when used: production images may omit its PostgreSQL binaries.
    const { startEmbeddedPostgres } = await import("./db/embedded.js");
    embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPgPort);
    databaseUrl = embedded.url;
    logger.info({ dataDir: config.dataDir, port: config.embeddedPgPort }, "embedded PostgreSQL started");
  }
  try {
    return await startRoles(config, logger, databaseUrl, embedded, options);
  } catch (error) {
    await embedded?.stop().catch(() => {});
    throw error;
  }
}

async function startRoles(
  config: Config,
  logger: Logger,
  databaseUrl: string,
  embedded: EmbeddedDatabase | undefined,
  options: StartOptions,
): Promise<Parley> {
  // First: a refusal here leaves no pool or queue connection behind.
  const adminToken = await resolveAdminToken(config, logger);
  await ensureDatabase(databaseUrl);
  await migrateDatabase(databaseUrl);
  const db = connect(databaseUrl);
  await warnWithoutAutovacuum(db, logger);
  const backend = queueBackend({ redisUrl: config.redisUrl, databaseUrl, prefix: options.queuePrefix ?? config.queuePrefix });
  const queues = await openQueues(backend, logger);
  const deps: Deps = { config, db, logger, queues, adminToken, deliveryTuning: options.deliveryTuning };
  // One registry per process, served at /metrics.
  const metrics = createMetrics(queues, logger);
  deps.metrics = metrics;

  let server: Server | undefined;
  let streaming: Streaming | undefined;
  let url: string | undefined;
  let workers: Workers | undefined;
  const stop = async () => {
    const deadline = Date.now() + config.shutdownTimeoutMs;
    // Sockets first: an upgraded connection would hold server.close() open.
    await streaming?.close();
    const web = async () => {
      if (!server) return;
      const s = server;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      s.closeIdleConnections();
      // Keep-alive connections that go idle after their last answer are closed as they do.
      const idle = setInterval(() => s.closeIdleConnections(), 250);
      const cut = setTimeout(() => s.closeAllConnections(), Math.max(0, deadline - Date.now()));
      await closed;
      clearInterval(idle);
      clearTimeout(cut);
    };
    // The web and the workers drain at the same time, under one bound.
    await Promise.all([web(), workers?.close(deadline - Date.now())]);
    await queues.close();
    await db.$client.end({ timeout: 5 });
  };
  try {
    if (config.role !== "worker") {
      const app = buildApp(deps, buildFederation(deps));
      const s = createServer(httpServerOptions(config), app);
      s.maxConnections = config.httpMaxConnections;
      const listening = await new Promise<Server>((resolve, reject) => {
        s.once("error", reject);
        s.listen(config.port, config.host, () => {
          s.off("error", reject);
          resolve(s);
        });
      });
      server = listening;
      // WebSocket upgrades of GET /api/v1/streaming, fed by this process's LISTEN connection.
      streaming = await startStreaming(listening, deps, databaseUrl, options.streamingTuning);
      const hub = streaming.hub;
      metrics.setStreamingConnections(() => hub.size);
      const address = listening.address();
      const port = typeof address === "object" && address ? address.port : config.port;
      url = `http://127.0.0.1:${port}`;
      logger.info({ url, publicUrl: config.publicUrl, queues: backend.kind }, "Parley web listening");
    }
    if (config.role !== "web") {
      workers = await startWorkers(deps);
      // Worker-only: no web server, yet /metrics, /healthz and /readyz must answer on PORT.
      if (config.role === "worker") server = await startWorkerListener(deps, metrics);
      logger.info({ queues: backend.kind }, "Parley workers started");
    }
  } catch (error) {
    // A taken port, say: release what was opened so the caller can exit or retry cleanly.
    await stop().catch(() => {});
    throw error;
  }

  return {
    deps,
    url,
    async close() {
      await stop();
      await embedded?.stop();
    },
  };
}

/**
 * Bounds of one client's hold on a connection: its headers within HTTP_HEADERS_TIMEOUT_MS (a
 * slowloris), the whole request within HTTP_REQUEST_TIMEOUT_MS, 5 s idle between keep-alive
 * requests. Node enforces the first two on a timer (every 30 s by default: a 20 s header timeout
 * would hold up to 50 s); here every quarter of the header timeout, at most 1 s, with Node's
 * timeouts one such period shorter, so that a client is cut within the last second before the
 * configured time, never after it. Upgraded WebSockets leave these checks when they are upgraded.
 */
function httpServerOptions(config: Config) {
  // Node refuses a header timeout longer than the request timeout.
  const headers = Math.min(config.httpHeadersTimeoutMs, config.httpRequestTimeoutMs);
  const checkEvery = Math.max(50, Math.min(1_000, Math.floor(headers / 4)));
  return {
    headersTimeout: headers - checkEvery,
    requestTimeout: config.httpRequestTimeoutMs - checkEvery,
    keepAliveTimeout: 5_000,
    connectionsCheckingInterval: checkEvery,
  };
}

/**
 * Without autovacuum no table is analyzed or vacuumed: plans keep an empty table's estimates and
 * dead rows pile up, so the API slows as the data grows (docs/reliability-soak-notes.md).
 */
async function warnWithoutAutovacuum(db: Database, logger: Logger): Promise<void> {
  const [row] = await db.$client<{ autovacuum: string }[]>`SHOW autovacuum`;
  if (row?.autovacuum === "off") {
    logger.warn(
      "PostgreSQL runs with autovacuum off: tables are never analyzed or vacuumed and the API will slow down as they grow; turn it on",
    );
  }
}
