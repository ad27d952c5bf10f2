import { sql } from "drizzle-orm";
import type { RequestHandler } from "express";
import type { Deps } from "../shared/deps.js";
import { withTimeout } from "./metrics.js";

/**
 * `/readyz` of every process: PostgreSQL and the queue backend answer within 3 s (a dependency
 * that hangs rather than refuses must not hang the probe); otherwise 503 with `Retry-After` and
 * the list of what is down.
 */
export function readinessHandler(deps: Pick<Deps, "db" | "queues">): RequestHandler {
  return async (_req, res) => {
    const check = (probe: () => Promise<unknown>) =>
      withTimeout(probe(), 3_000).then(
        () => "ok",
        (error: Error) => error.message || (error as { code?: string }).code || "down",
      );
    const [database, queue] = await Promise.all([check(() => deps.db.execute(sql`SELECT 1`)), check(() => deps.queues.backend.ping())]);
    const ready = database === "ok" && queue === "ok";
    if (!ready) res.set("Retry-After", "5");
    const down = [
      ...(database === "ok" ? [] : ["database"]),
      ...(queue === "ok" ? [] : [deps.queues.backend.kind === "redis" ? "redis" : "queue"]),
    ];
    res.status(ready ? 200 : 503).json({
      status: ready ? "ready" : "unavailable",
      ...(ready ? {} : { down }),
      database,
      queue: { backend: deps.queues.backend.kind, status: queue },
    });
  };
}
