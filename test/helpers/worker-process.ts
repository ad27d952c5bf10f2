/**
 * A Parley process of any ROLE (named for its first use: a worker that tests SIGKILL
 * mid-delivery; test/scale-out.test.ts also runs web processes with it): the production entry
 * (src/main.ts) plus what a test needs and the environment must not carry in production: the
 * test's queue prefix and delivery timings, as JSON in TEST_QUEUE_PREFIX / TEST_DELIVERY_TUNING.
 * Prints `ready` on stdout once its workers run; SIGTERM stops it as src/main.ts does.
 */
import { loadConfig } from "../../src/config/config.js";
import { startParley } from "../../src/server.js";
import { createLogger } from "../../src/shared/logger.js";
import { exitOnSignals } from "../../src/shutdown.js";

const config = loadConfig();
const parley = await startParley(config, createLogger(config.logLevel, process.stderr), {
  queuePrefix: process.env.TEST_QUEUE_PREFIX,
  deliveryTuning: JSON.parse(process.env.TEST_DELIVERY_TUNING ?? "{}"),
});
process.stdout.write("ready\n");
// The production signal handling (src/shutdown.ts): graceful, bounded by SHUTDOWN_TIMEOUT_MS.
exitOnSignals(parley, createLogger(config.logLevel, process.stderr), config.shutdownTimeoutMs);
