import type { Config } from "../config/config.js";
import type { Database } from "../db/database.js";
import type { DeliveryTuning } from "../federation/outgoing/policy.js";
import type { Queues } from "../queues/queues.js";
import type { Logger } from "./logger.js";

/** What every module needs from the running process; built once in src/main.ts (or by a test). */
export interface Deps {
  config: Config;
  db: Database;
  logger: Logger;
  queues: Queues;
  adminToken: string;
  /** Test-only overrides of delivery timings (StartOptions.deliveryTuning); production uses the defaults. */
  deliveryTuning?: Partial<DeliveryTuning>;
}
