import type { NextFunction, Request, RequestHandler, Response } from "express";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Queues } from "../queues/queues.js";
import type { Logger } from "../shared/logger.js";
import { deliveryReasonLabel, inboxReasonLabel, methodLabel, routeLabel, statusLabel } from "./metric-labels.js";

export { deliveryReason } from "./metric-labels.js";

/**
 * The Prometheus metrics of one Parley process: one registry, one family per metric.
 * Queue depths are read when scraped (one Gauge whose collect() asks every queue's getJobCounts),
 * never summed from several exporters (BullMQ's own exporter repeats its family per queue).
 */
export interface Metrics {
  registry: Registry;
  /** One delivery attempt (or a delivery given up before any POST): its outcome and why. */
  deliveryAttempt(outcome: DeliveryOutcome, reason: string): void;
  /** One answer of the inbox (`POST /inbox`, `POST /users/:name/inbox`). */
  inboxAnswer(status: number, reason: string): void;
  /**
   * One MLS object stored: sent by a local client (`out`) or received (`in`), by its AP type, and
   * whether that type disagrees with the MLS wire format (implementations differ; counted, not refused).
   */
  mlsObject(direction: "in" | "out", type: string, mismatch: boolean): void;
  /** The number of open streaming sockets is read from here when scraped (web roles). */
  setStreamingConnections(count: () => number): void;
  /** express middleware recording `parley_http_request_duration_seconds` by route pattern. */
  httpDuration: RequestHandler;
  /** express middleware counting inbox answers (mount before the Fedify bridge). */
  inboxCounter: RequestHandler;
}

export type DeliveryOutcome = "delivered" | "retry" | "failed";

/** The `type` label of parley_mls_objects_total: the four message types, anything else `other`. */
const MLS_TYPE_LABELS = new Set(["PrivateMessage", "PublicMessage", "Welcome", "GroupInfo"]);

const QUEUE_STATES = ["waiting", "active", "delayed", "prioritized", "waiting-children", "completed", "failed"] as const;

export function createMetrics(queues: Pick<Queues, "all">, logger: Logger): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: "parley_queue_jobs",
    help: "BullMQ jobs by queue and state (read from the queue backend when scraped)",
    labelNames: ["queue", "state"],
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        queues.all().map(async (queue) => {
          try {
            // Bounded: Redis commands wait for a lost Redis to come back (maxRetriesPerRequest null).
            const counts = await withTimeout(queue.getJobCounts(...QUEUE_STATES), COUNTS_TIMEOUT_MS);
            for (const state of QUEUE_STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
          } catch (error) {
            // The backend is down: the queue's series are absent from this scrape, the rest stays.
            logger.warn({ err: error, queue: queue.name }, "metrics: job counts unavailable");
          }
        }),
      );
    },
  });

  const deliveries = new Counter({
    name: "parley_delivery_attempts_total",
    help: "Outgoing delivery attempts by outcome (delivered, retry, failed) and reason (status class or error code)",
    labelNames: ["outcome", "reason"],
    registers: [registry],
  });
  const inbox = new Counter({
    name: "parley_inbox_requests_total",
    help: "Inbox POSTs answered, by status and reason",
    labelNames: ["status", "reason"],
    registers: [registry],
  });
  const mlsObjects = new Counter({
    name: "parley_mls_objects_total",
    help: "MLS objects stored, by direction (in, out), AP type and whether the type disagrees with the wire format",
    labelNames: ["direction", "type", "mismatch"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "parley_http_request_duration_seconds",
    help: "HTTP request duration by method, route pattern and status",
    labelNames: ["method", "route", "status"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  let streamingCount: () => number = () => 0;
  new Gauge({
    name: "parley_streaming_connections",
    help: "Open streaming WebSocket connections of this process",
    registers: [registry],
    collect() {
      this.set(streamingCount());
    },
  });

  const httpDuration: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    const end = duration.startTimer();
    res.on("finish", () => {
      end({ method: methodLabel(req.method), route: routeLabel(req), status: statusLabel(res.statusCode) });
    });
    next();
  };

  const inboxCounter: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== "POST" || !INBOX_PATH.test(req.path)) return next();
    // The reason is the answer's own `reason` (or `error`): bridge verdicts and Fedify's answers
    // alike leave through res.send, as JSON objects or as Fedify's JSON bytes.
    let reason: string | undefined;
    const send = res.send.bind(res);
    res.send = (body?: unknown) => {
      reason ??= reasonOf(body);
      return send(body);
    };
    res.on("finish", () => {
      const status = res.statusCode;
      inbox.inc({
        status: statusLabel(status),
        reason: inboxReasonLabel(reason ?? (status >= 200 && status < 300 ? "accepted" : undefined)),
      });
    });
    next();
  };

  return {
    registry,
    deliveryAttempt: (outcome, reason) => deliveries.inc({ outcome, reason: deliveryReasonLabel(reason) }),
    mlsObject: (direction, type, mismatch) =>
      mlsObjects.inc({ direction, type: MLS_TYPE_LABELS.has(type) ? type : "other", mismatch: String(mismatch) }),
    inboxAnswer: (status, reason) => inbox.inc({ status: statusLabel(status), reason: inboxReasonLabel(reason) }),
    setStreamingConnections(count) {
      streamingCount = count;
    },
    httpDuration,
    inboxCounter,
  };
}

const COUNTS_TIMEOUT_MS = 2_000;

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function reasonOf(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === "string" || Buffer.isBuffer(body)) {
    if (body.length > 4096) return undefined;
    try {
      parsed = JSON.parse(body.toString());
    } catch {
      return undefined;
    }
  }
  if (!parsed || typeof parsed !== "object") return undefined;
  const fields = parsed as { reason?: unknown; error?: unknown };
  const value = fields.reason ?? fields.error;
  return typeof value === "string" ? value : undefined;
}

const INBOX_PATH = /^\/(users\/[^/]+\/)?inbox\/?$/;

/** `GET /metrics`: the process's registry in Prometheus text format. */
export function metricsHandler(metrics: Metrics): RequestHandler {
  return async (_req, res, next) => {
    try {
      const text = await metrics.registry.metrics();
      res.set("Content-Type", metrics.registry.contentType).send(text);
    } catch (error) {
      next(error);
    }
  };
}
