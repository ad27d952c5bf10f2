import { ConfigError, loadConfig } from "./config/config.js";
import { startParley } from "./server.js";
import { createLogger } from "./shared/logger.js";

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

const logger = createLogger(config.logLevel);
const parley = await startParley(config, logger).catch((error: Error) => {
  logger.fatal({ err: error }, `start-up failed: ${error.message}`);
  process.exit(1);
});

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, async () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    const timer = setTimeout(() => {
      logger.error("shutdown took longer than 25 s; exiting");
      process.exit(1);
    }, 25_000);
    timer.unref();
    await parley.close().catch((error: Error) => logger.error({ err: error }, "error during shutdown"));
    process.exit(0);
  });
}
