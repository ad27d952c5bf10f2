import type { Server } from "node:http";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { startWorkers, type Workers } from "../workers/index.js";
import type { Config } from "./config/config.js";
import { connect, ensureDatabase, migrateDatabase } from "./db/database.js";
import type { EmbeddedDatabase } from "./db/embedded.js";
import { buildFederation } from "./federation/federation.js";
import { buildApp } from "./http/app.js";
import { openQueues, queueBackend } from "./queues/queues.js";
import type { Deps } from "./shared/deps.js";
import type { Logger } from "./shared/logger.js";
import { routeFedifyLogs } from "./shared/logger.js";

export interface Parley {
  deps: Deps;
  /** Base URL the HTTP server listens on (web roles only). */
  url: string | undefined;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Redis key prefix of the queues (tests isolate themselves with it). */
  queuePrefix?: string;
}

/** The ADMIN_TOKEN from the environment, or one generated once and kept in DATA_DIR. */
async function adminToken(config: Config, logger: Logger): Promise<string> {
  if (config.adminToken) return config.adminToken;
  const file = path.resolve(config.dataDir, "admin-token");
  if (existsSync(file)) return (await readFile(file, "utf8")).trim();
  await mkdir(config.dataDir, { recursive: true });
  const token = randomBytes(32).toString("base64url");
  await writeFile(file, `${token}\n`, { mode: 0o600, flag: "wx" }).catch(async (error: { code?: string }) => {
    if (error.code !== "EEXIST") throw error;
  });
  const saved = (await readFile(file, "utf8")).trim();
  logger.info({ file }, `generated ADMIN_TOKEN, saved in ${file}: ${saved}`);
  return saved;
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
  await ensureDatabase(databaseUrl);
  await migrateDatabase(databaseUrl);
  const db = connect(databaseUrl);
  const backend = queueBackend({ redisUrl: config.redisUrl, databaseUrl, prefix: options.queuePrefix });
  const queues = await openQueues(backend, logger);
  const deps: Deps = { config, db, logger, queues, adminToken: await adminToken(config, logger) };

  let server: Server | undefined;
  let url: string | undefined;
  if (config.role !== "worker") {
    const app = buildApp(deps, buildFederation(deps));
    server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(config.port, config.host, (error?: Error) => (error ? reject(error) : resolve(s)));
    });
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : config.port;
    url = `http://127.0.0.1:${port}`;
    logger.info({ url, publicUrl: config.publicUrl, queues: backend.kind }, "Parley web listening");
  }
  let workers: Workers | undefined;
  if (config.role !== "web") {
    workers = await startWorkers(deps);
    logger.info({ queues: backend.kind }, "Parley workers started");
  }

  return {
    deps,
    url,
    async close() {
      if (server) {
        server.closeIdleConnections();
        await new Promise<void>((resolve) => server!.close(() => resolve()));
      }
      await workers?.close();
      await queues.close();
      await db.$client.end({ timeout: 5 });
      await embedded?.stop();
    },
  };
}
