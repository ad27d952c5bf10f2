/**
 * A Parley worker process for tests that kill one (SIGKILL mid-delivery): the production entry
 * (src/main.ts) plus what a test needs and the environment must not carry in production: the
 * test's queue prefix and delivery timings, as JSON in TEST_QUEUE_PREFIX / TEST_DELIVERY_TUNING.
 * Prints `ready` on stdout once its workers run.
 */
import { loadConfig } from "../../src/config/config.js";
import { startParley } from "../../src/server.js";
import { createLogger } from "../../src/shared/logger.js";

const config = loadConfig();
const parley = await startParley(config, createLogger(config.logLevel, process.stderr), {
  queuePrefix: process.env.TEST_QUEUE_PREFIX,
  deliveryTuning: JSON.parse(process.env.TEST_DELIVERY_TUNING ?? "{}"),
});
process.stdout.write("ready\n");
process.once("SIGTERM", () => {
  parley.close().then(() => process.exit(0), () => process.exit(1));
});
