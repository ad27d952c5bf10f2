import { sql } from "drizzle-orm";
import express from "express";
import type { Server } from "node:http";
import type { Deps } from "../shared/deps.js";
import { type Metrics, metricsHandler, withTimeout } from "./metrics.js";

/**
 * A worker-only process (ROLE=worker) has no web server; this small listener on PORT serves what
 * an orchestrator and Prometheus need from it: `/healthz`, `/readyz` (PostgreSQL and the queue
 * backend; 503 otherwise) and `/metrics` (the deliver worker's counters, queue depths, Node).
 */
export async function startWorkerListener(deps: Deps, metrics: Metrics): Promise<Server> {
  const app = express();
  app.disable("x-powered-by");
  app.use(metrics.httpDuration);
  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    // Bounded, like the web's /readyz: a dependency that hangs must not hang the probe.
    const check = (probe: () => Promise<unknown>) =>
      withTimeout(probe(), 3_000).then(
        () => "ok",
        (error: Error) => error.message || "down",
      );
    const [database, queue] = await Promise.all([check(() => deps.db.execute(sql`SELECT 1`)), check(() => deps.queues.backend.ping())]);
    const ready = database === "ok" && queue === "ok";
    if (!ready) res.set("Retry-After", "5");
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "unavailable", database, queue: { backend: deps.queues.backend.kind, status: queue } });
  });
  app.get("/metrics", metricsHandler(metrics));
  app.use((_req, res) => {
    res.status(404).json({ error: "not_found" });
  });
  return new Promise<Server>((resolve, reject) => {
    const server = app.listen(deps.config.port, deps.config.host, (error?: Error) => (error ? reject(error) : resolve(server)));
  });
}
