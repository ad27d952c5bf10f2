import type { Server } from "node:http";
import express from "express";
import type { Deps } from "../shared/deps.js";
import { type Metrics, metricsHandler } from "./metrics.js";
import { readinessHandler } from "./readiness.js";

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
  app.get("/readyz", readinessHandler(deps));
  app.get("/metrics", metricsHandler(metrics));
  app.use((_req, res) => {
    res.status(404).json({ error: "not_found" });
  });
  return new Promise<Server>((resolve, reject) => {
    const server = app.listen(deps.config.port, deps.config.host, (error?: Error) => (error ? reject(error) : resolve(server)));
  });
}
