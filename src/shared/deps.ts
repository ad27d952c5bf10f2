import type { Config } from "../config/config.js";
import type { Database } from "../db/database.js";
import type { DeliveryTuning } from "../federation/outgoing/policy.js";
import type { Metrics } from "../ops/metrics.js";
import type { Queues } from "../queues/queues.js";
import type { Logger } from "./logger.js";

/** What every module needs from the running process; built once per process by startParley in src/server.ts (or by a test). */
export interface Deps {
  config: Config;
  db: Database;
  logger: Logger;
  queues: Queues;
  adminToken: string;
  /** This process's Prometheus metrics (src/ops/metrics.ts); absent where a test builds Deps itself. */
  metrics?: Metrics;
  /** Test-only overrides of delivery timings (StartOptions.deliveryTuning); production uses the defaults. */
  deliveryTuning?: Partial<DeliveryTuning>;
}
