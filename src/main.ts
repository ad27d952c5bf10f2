import { ConfigError, loadConfig } from "./config/config.js";
import { startParley } from "./server.js";
import { createLogger } from "./shared/logger.js";
import { exitOnSignals } from "./shutdown.js";

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

exitOnSignals(parley, logger, config.shutdownTimeoutMs);
