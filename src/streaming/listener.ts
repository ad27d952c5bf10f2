import pg from "pg";
import type { Logger } from "../shared/logger.js";
import { EVENTS_CHANNEL, parseEvent, type StreamEvent } from "./events.js";

/**
 * One dedicated `LISTEN` connection per web process (a pooled connection cannot hold a LISTEN).
 * When it drops (PostgreSQL restarted, connection killed, network gone), it reconnects with
 * exponential backoff and jitter; a periodic `SELECT 1` finds a connection that died silently.
 * Events sent while it was away are lost (NOTIFY keeps nothing): clients catch up through the REST
 * API, as they must after any reconnection of their own socket.
 */

export interface ListenerTuning {
  /** First reconnection delay; doubled per failure up to `maxBackoffMs`. */
  minBackoffMs: number;
  maxBackoffMs: number;
  /** How often the connection is probed. */
  probeEveryMs: number;
  /** A probe slower than this counts as a dead connection. */
  probeTimeoutMs: number;
}

const DEFAULT_TUNING: ListenerTuning = { minBackoffMs: 250, maxBackoffMs: 30_000, probeEveryMs: 30_000, probeTimeoutMs: 10_000 };

export interface EventListener {
  /** Resolves once the first LISTEN is in place (or failed: it keeps trying in the background). */
  ready: Promise<void>;
  /** Whether a LISTEN connection is in place now. */
  connected(): boolean;
  close(): Promise<void>;
}

export function listenForEvents(
  databaseUrl: string,
  logger: Logger,
  onEvent: (event: StreamEvent) => void,
  tuning: Partial<ListenerTuning> = {},
  /** Called when a lost connection is back: events sent meanwhile are lost. */
  onRestored: () => void = () => {},
): EventListener {
  const { minBackoffMs, maxBackoffMs, probeEveryMs, probeTimeoutMs } = { ...DEFAULT_TUNING, ...tuning };
  const log = logger.child({ component: "stream-listener" });
  let client: pg.Client | undefined;
  let live = false;
  let closed = false;
  let failures = 0;
  let everConnected = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let probeTimer: NodeJS.Timeout | undefined;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  const scheduleReconnect = () => {
    if (closed || retryTimer) return;
    const base = Math.min(maxBackoffMs, minBackoffMs * 2 ** Math.min(failures, 20));
    const delay = base / 2 + Math.random() * (base / 2);
    failures++;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, delay);
    retryTimer.unref();
  };

  /** Drops the current connection (if still this one) and plans the next. */
  const lost = (which: pg.Client, reason: unknown) => {
    if (client !== which) return;
    client = undefined;
    live = false;
    clearInterval(probeTimer);
    which.removeAllListeners("notification");
    which.on("error", () => {});
    which.end().catch(() => {});
    if (closed) return;
    log.warn({ err: reason }, "stream events: LISTEN connection lost; reconnecting");
    scheduleReconnect();
  };

  const connect = async () => {
    if (closed) return;
    const next = new pg.Client({
      connectionString: databaseUrl,
      application_name: "parley-events",
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    client = next;
    next.on("error", (error) => lost(next, error));
    next.on("end", () => lost(next, new Error("connection ended")));
    next.on("notification", (message) => {
      if (message.channel !== EVENTS_CHANNEL || !message.payload) return;
      const event = parseEvent(message.payload);
      if (event) onEvent(event);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (error) {
      lost(next, error);
      markReady();
      return;
    }
    if (client !== next) return;
    const restored = failures > 0 && everConnected;
    if (failures > 0) log.info({ after: failures }, "stream events: LISTEN connection restored");
    failures = 0;
    live = true;
    everConnected = true;
    markReady();
    if (restored) onRestored();
    probeTimer = setInterval(() => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`probe took more than ${probeTimeoutMs} ms`)), probeTimeoutMs);
      });
      Promise.race([next.query("SELECT 1"), timeout])
        .catch((error) => lost(next, error))
        .finally(() => clearTimeout(timer));
    }, probeEveryMs);
    probeTimer.unref();
  };

  void connect();
  return {
    ready,
    connected: () => live,
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      clearInterval(probeTimer);
      const current = client;
      client = undefined;
      live = false;
      if (current) {
        current.removeAllListeners("notification");
        current.on("error", () => {});
        await current.end().catch(() => {});
      }
    },
  };
}
