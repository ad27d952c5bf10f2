/**
 * Errors that mean "a dependency (PostgreSQL or Redis) is unreachable", not "a bug": they leave as
 * 503 {"error":"service_unavailable"} + Retry-After (error handler, inbox bridge), never as a 500.
 * Nothing is cached across them: postgres.js and ioredis reconnect by themselves on the next query.
 */

/** Seconds a client should wait before trying again while a dependency is down. */
export const UNAVAILABLE_RETRY_AFTER_S = 5;

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  // postgres.js
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  // PostgreSQL: admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
  "57P01",
  "57P02",
  "57P03",
  "53300",
]);

const REDIS_MESSAGES = [
  "Connection is closed",
  "Stream isn't writeable",
  "Reached the max retries per request limit",
  "Command timed out",
  "connect ETIMEDOUT",
];

/** True when `error` (or one of its causes) is a lost or refused connection to a dependency. */
export function isDependencyDown(error: unknown): boolean {
  for (
    let e = error as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 6;
    depth++
  ) {
    if (typeof e !== "object") return false;
    const code = typeof e.code === "string" ? e.code : undefined;
    // SQLSTATE class 08: connection exceptions.
    if (code && (NETWORK_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    const message = typeof e.message === "string" ? e.message : "";
    if (e.name === "MaxRetriesPerRequestError" || REDIS_MESSAGES.some((m) => message.includes(m))) return true;
    if (e instanceof AggregateError && e.errors.some((inner) => isDependencyDown(inner))) return true;
    e = e.cause as typeof e;
  }
  return false;
}

export const serviceUnavailableBody = { error: "service_unavailable" } as const;
