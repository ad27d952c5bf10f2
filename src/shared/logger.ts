import { AsyncLocalStorage } from "node:async_hooks";
import { configure, type LogRecord } from "@logtape/logtape";
import pino, { type Logger } from "pino";
import { PinoPretty } from "pino-pretty";
import { boundLogLine, boundLogRecord, boundLogValue, LOG_LIMITS, summariseDocument, truncate } from "./log-bounds.js";

export type { Logger };

/** Secrets never reach the logs: tokens, cookies and signatures are redacted wherever they appear. */
const REDACT = [
  "req.headers.authorization",
  "req.headers.cookie",
  "req.headers.signature",
  'req.headers["signature-input"]',
  // Streaming clients may send their token as the WebSocket protocol.
  'req.headers["sec-websocket-protocol"]',
  "req.query.access_token",
  "headers.authorization",
  "headers.signature",
  "access_token",
  "adminToken",
  "privateKey",
];

/** A request URL fit for the logs: the value of `access_token` (streaming clients put it there) redacted. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&#]*/gi, "$1[redacted]");
}

/**
 * The process's logger. No line carries more than a few hundred bytes of any one value, whatever
 * the level (src/shared/log-bounds.ts): records are bounded before they are written, messages
 * cut, and a line still too long is written again bounded.
 *
 * Without a destination, a terminal gets readable lines (pino-pretty, in this thread rather than a
 * transport's worker, so the last lines before an exit are not lost); anything else (a pipe, a
 * file, a log collector) gets the JSON lines.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  destination ??= process.stdout.isTTY ? terminalStream() : undefined;
  return pino(
    {
      level,
      redact: { paths: REDACT, censor: "[redacted]" },
      base: { service: "parley" },
      formatters: { log: boundLogRecord },
      hooks: {
        logMethod(args, method) {
          // `logger.error(err)` takes its message from the error: cut it here like any message.
          if (args.length === 1 && args[0] instanceof Error) (args as unknown[]).push(args[0].message);
          const bounded = (args as unknown[]).map((arg) => (typeof arg === "string" ? truncate(arg, LOG_LIMITS.message) : arg));
          return method.apply(this, bounded as Parameters<typeof method>);
        },
        streamWrite: boundLogLine,
      },
    },
    destination,
  );
}

/**
 * Readable lines with colours, for a person watching. Written through process.stdout, which is
 * synchronous on a terminal: nothing waits in a buffer at exit. Request and response headers are
 * left out here (they stay in the JSON lines), or every request would fill the screen.
 */
function terminalStream(): pino.DestinationStream {
  return PinoPretty({
    destination: process.stdout,
    colorize: true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname,service,req.headers,req.remotePort,res.headers",
  });
}

const levelOf = { trace: "trace", debug: "debug", info: "info", warning: "warn", error: "error", fatal: "fatal" } as const;

/** Where Fedify's records go: the logger of the process started last (LogTape's configuration is global). */
let fedifyTarget: Logger | undefined;
/** LogTape refuses a second configure() while one runs: calls are chained, and skipped when nothing changes. */
let configuring: Promise<void> = Promise.resolve();
let configuredLevel: "debug" | "info" | undefined;

/** Fedify's record properties holding a whole activity or JSON body, logged as a summary. */
const DOCUMENT_PROPERTIES = new Set(["activity", "json", "object", "document"]);

function fedifySink(record: LogRecord): void {
  const target = fedifyTarget;
  if (!target) return;
  const message = truncate(
    record.message.map((part) => (typeof part === "string" ? part : messageValue(part))).join(""),
    LOG_LIMITS.message,
  );
  const properties: Record<string, unknown> = { category: record.category.join(".") };
  for (const [key, value] of Object.entries(record.properties)) {
    properties[key] = DOCUMENT_PROPERTIES.has(key) && isRecord(value) ? summariseDocument(value) : value;
  }
  target[levelOf[record.level]](properties, message);
}

/** Routes Fedify's LogTape records into pino, so there is one JSON log stream. */
export function routeFedifyLogs(logger: Logger): Promise<void> {
  fedifyTarget = logger.child({ component: "fedify" });
  const level = logger.level === "debug" || logger.level === "trace" ? "debug" : "info";
  const next = configuring.then(async () => {
    if (configuredLevel === level) return;
    await configure({
      sinks: { pino: fedifySink },
      loggers: [
        { category: "fedify", lowestLevel: level, sinks: ["pino"] },
        { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["pino"] },
      ],
      contextLocalStorage: new AsyncLocalStorage(),
      reset: true,
    });
    configuredLevel = level;
  });
  configuring = next.catch(() => undefined);
  return next;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A value interpolated into a Fedify message (`{error}`, `{activityId}`), cut to a few hundred characters. */
function messageValue(value: unknown): string {
  if (value instanceof URL) return truncate(value.href);
  if (value instanceof Error) return truncate(`${value.name}: ${value.message}`);
  if (typeof value !== "object" || value === null) return truncate(String(value));
  try {
    return truncate(JSON.stringify(boundLogValue(value)) ?? String(value));
  } catch {
    return "[unserialisable]";
  }
}
