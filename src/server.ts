import type { Server } from "node:http";
import { startWorkers, type Workers } from "../workers/index.js";
import { resolveAdminToken } from "./config/admin-token.js";
import type { Config } from "./config/config.js";
import { connect, ensureDatabase, migrateDatabase } from "./db/database.js";
import type { EmbeddedDatabase } from "./db/embedded.js";
import type { DeliveryTuning } from "./federation/outgoing/policy.js";
import { buildFederation } from "./federation/federation.js";
import { buildApp } from "./http/app.js";
import { openQueues, queueBackend } from "./queues/queues.js";
import type { Deps } from "./shared/deps.js";
import type { Logger } from "./shared/logger.js";
import { routeFedifyLogs } from "./shared/logger.js";
import { startStreaming, type Streaming, type StreamingTuning } from "./streaming/streaming.js";

export interface Parley {
  deps: Deps;
  /** Base URL the HTTP server listens on (web roles only). */
  url: string | undefined;
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
  const backend = queueBackend({ redisUrl: config.redisUrl, databaseUrl, prefix: options.queuePrefix });
  const queues = await openQueues(backend, logger);
  const deps: Deps = { config, db, logger, queues, adminToken, deliveryTuning: options.deliveryTuning };

  let server: Server | undefined;
  let streaming: Streaming | undefined;
  let url: string | undefined;
  let workers: Workers | undefined;
  const stop = async () => {
    // Sockets first: an upgraded connection would hold server.close() open.
    await streaming?.close();
    if (server) {
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    }
    await workers?.close();
    await queues.close();
    await db.$client.end({ timeout: 5 });
  };
  try {
    if (config.role !== "worker") {
      const app = buildApp(deps, buildFederation(deps));
      const listening = await new Promise<Server>((resolve, reject) => {
        const s = app.listen(config.port, config.host, (error?: Error) => (error ? reject(error) : resolve(s)));
      });
      server = listening;
      // WebSocket upgrades of GET /api/v1/streaming, fed by this process's LISTEN connection.
      streaming = await startStreaming(listening, deps, databaseUrl, options.streamingTuning);
      const address = listening.address();
      const port = typeof address === "object" && address ? address.port : config.port;
      url = `http://127.0.0.1:${port}`;
      logger.info({ url, publicUrl: config.publicUrl, queues: backend.kind }, "Parley web listening");
    }
    if (config.role !== "web") {
      workers = await startWorkers(deps);
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
