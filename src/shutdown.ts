import type { Parley } from "./server.js";
import type { Logger } from "./shared/logger.js";

/** Margin past SHUTDOWN_TIMEOUT_MS for closing queues and pools before the process gives up. */
const CLOSE_MARGIN_MS = 10_000;

/**
 * SIGTERM/SIGINT: stop accepting, finish in-flight requests and jobs (bounded by
 * SHUTDOWN_TIMEOUT_MS, see Parley.close), close pools, exit 0. Exit 1 only if closing itself
 * hangs past the bound plus a margin. A second signal during the stop is ignored.
 */
export function exitOnSignals(parley: Parley, logger: Logger, shutdownTimeoutMs: number): void {
  let stopping = false;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, async () => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal, boundMs: shutdownTimeoutMs }, "shutting down");
      const timer = setTimeout(() => {
        logger.error(`shutdown took longer than ${shutdownTimeoutMs + CLOSE_MARGIN_MS} ms; exiting`);
        process.exit(1);
      }, shutdownTimeoutMs + CLOSE_MARGIN_MS);
      timer.unref();
      try {
        await parley.close();
      } catch (error) {
        logger.error({ err: error }, "error during shutdown");
      }
      logger.info("stopped");
      process.exit(0);
    });
  }
}
