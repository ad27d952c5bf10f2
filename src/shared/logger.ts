import { configure, type LogRecord } from "@logtape/logtape";
import { AsyncLocalStorage } from "node:async_hooks";
import pino, { type Logger } from "pino";

export type { Logger };

/** Secrets never reach the logs: tokens, cookies and signatures are redacted wherever they appear. */
const REDACT = [
  "req.headers.authorization",
  "req.headers.cookie",
  "req.headers.signature",
  "req.headers[\"signature-input\"]",
  // Streaming clients may send their token as the WebSocket protocol.
  "req.headers[\"sec-websocket-protocol\"]",
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

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT, censor: "[redacted]" }, base: { service: "parley" } }, destination);
}

const levelOf = { trace: "trace", debug: "debug", info: "info", warning: "warn", error: "error", fatal: "fatal" } as const;

let fedifyRouted = false;

/** Routes Fedify's LogTape records into pino, so there is one JSON log stream. */
export async function routeFedifyLogs(logger: Logger): Promise<void> {
  if (fedifyRouted) return;
  fedifyRouted = true;
  const child = logger.child({ component: "fedify" });
  const sink = (record: LogRecord) => {
    const message = record.message.map((part) => (typeof part === "string" ? part : safeString(part))).join("");
    child[levelOf[record.level]]({ category: record.category.join("."), ...record.properties }, message);
  };
  await configure({
    sinks: { pino: sink },
    loggers: [
      { category: "fedify", lowestLevel: logger.level === "debug" || logger.level === "trace" ? "debug" : "info", sinks: ["pino"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["pino"] },
    ],
    contextLocalStorage: new AsyncLocalStorage(),
    reset: true,
  });
}

function safeString(value: unknown): string {
  if (value instanceof URL) return value.href;
  try {
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  } catch {
    return String(value);
  }
}
