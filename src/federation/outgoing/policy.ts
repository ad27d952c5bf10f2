import { RemoteFetchError } from "../http-client.js";

/**
 * How outgoing deliveries retry, wait and give up. Production values are the defaults below;
 * tests shorten some of them through `StartOptions.deliveryTuning` (never through the environment).
 */
export interface DeliveryTuning {
  /** Whole request (connect, send, answer) and connect alone. */
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** First retry delay; each later one doubles it (see `retryDelay`). */
  backoffBaseMs: number;
  /** No single delay (backoff, Retry-After, pause) is longer. */
  maxDelayMs: number;
  /** A delivery still failing this long after it was written is given up (`failed`). */
  horizonMs: number;
  /** A host failing `pauseThreshold` times within `pauseWindowMs` is paused for `pauseMs`. */
  pauseThreshold: number;
  pauseWindowMs: number;
  pauseMs: number;
  /** When every slot of a host is taken, the job comes back after about this long (no attempt counted). */
  slotWaitMs: number;
  /** A host slot frees itself this long after it was taken, should its holder die. */
  slotLeaseMs: number;
  /** The reconciler runs this often, and looks at pending rows overdue by more than the grace. */
  reconcileEveryMs: number;
  reconcileGraceMs: number;
  /** BullMQ lock of a running delivery job (renewed at half), and the stalled-job check interval. */
  lockDurationMs: number;
  stalledIntervalMs: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/*
 * Retry schedule (production). When attempt n (n ≥ 1) fails, the next one waits
 *   min(8 h, 60 s · 2^(n−1)) · j,   j uniform in [0.75, 1]   (jitter that never passes the cap)
 * Without jitter (j = 1): 1, 2, 4, 8, 16, 32 min, 1.1, 2.1, 4.3 h, then 8 h each; the attempts
 * fall at 0, 1 m, 3 m, 7 m, 15 m, 31 m, 63 m, 2.1 h, 4.3 h, 8.5 h, 16.5 h, 24.5 h, 32.5 h, 40.5 h
 * and 48.5 h: 15 attempts. With jitter: 15 to 17 attempts (16 on average), spread so that the
 * deliveries of one outage do not all come back at the same second.
 * The give-up rule is by age, not by count: a delivery fails for good only when an attempt fails
 * 48 h or more after the row was written. So jitter, `Retry-After` answers sooner than the
 * backoff, host pauses or a Redis loss change the number of attempts, never shorten the horizon
 * below 48 h (Mastodon gives up after ≈ 50 h, Misskey ≈ 35 h; docs/federation.md). MAX_ATTEMPTS is a ceiling
 * for peers that answer `Retry-After: 1` forever, so they are not hammered for 48 h.
 */
export const DEFAULT_DELIVERY_TUNING: DeliveryTuning = {
  requestTimeoutMs: 30 * SECOND,
  connectTimeoutMs: 5 * SECOND,
  backoffBaseMs: MINUTE,
  maxDelayMs: 8 * HOUR,
  horizonMs: 48 * HOUR,
  pauseThreshold: 5,
  pauseWindowMs: 10 * MINUTE,
  pauseMs: 30 * MINUTE,
  slotWaitMs: 500,
  // Longer than any request can last (30 s), so a live holder never loses its slot.
  slotLeaseMs: 90 * SECOND,
  reconcileEveryMs: 30 * SECOND,
  reconcileGraceMs: MINUTE,
  lockDurationMs: 30 * SECOND,
  stalledIntervalMs: 30 * SECOND,
};

export const MAX_ATTEMPTS = 100;

export function deliveryTuning(overrides: Partial<DeliveryTuning> | undefined): DeliveryTuning {
  return { ...DEFAULT_DELIVERY_TUNING, ...overrides };
}

/** Delay after failed attempt number `attempt` (1-based). */
export function retryDelay(attempt: number, tuning: Pick<DeliveryTuning, "backoffBaseMs" | "maxDelayMs">, random = Math.random): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 40);
  const capped = Math.min(tuning.maxDelayMs, tuning.backoffBaseMs * 2 ** exponent);
  return Math.round(capped * (0.75 + 0.25 * random()));
}

/** `Retry-After` as milliseconds from `now` (delta-seconds or an HTTP-date); undefined when absent or bad. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * SECOND;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

export type Outcome =
  | { kind: "delivered"; status: number }
  | { kind: "permanent"; error: string; status?: number; gone: boolean }
  | {
      kind: "retry";
      error: string;
      status?: number;
      /** Asked by the peer (429/503 with Retry-After). */
      retryAfterMs?: number;
      /** Counts towards the host's pause (the host looks down, not merely busy). */
      hostFailure: boolean;
    };

/**
 * Mastodon's rule (docs/federation.md, status classes): 2xx delivered; 4xx other than 401/408/429 permanent,
 * and 404/410 from a personal inbox means the actor is gone; everything else retried, 429/503
 * after their Retry-After.
 */
export function classifyResponse(status: number, headers: Record<string, string>, personalInbox: boolean, now = Date.now()): Outcome {
  if (status >= 200 && status < 300) return { kind: "delivered", status };
  const error = `HTTP ${status}`;
  // safeFetch follows 307/308 for a POST; any other redirect of an inbox is a misconfiguration.
  if (status >= 300 && status < 400) return { kind: "permanent", error: `${error} (redirect of a POST not followed)`, status, gone: false };
  if (status >= 400 && status < 500 && status !== 401 && status !== 408 && status !== 429) {
    return { kind: "permanent", error, status, gone: personalInbox && (status === 404 || status === 410) };
  }
  const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(headers["retry-after"], now) : undefined;
  return { kind: "retry", error, status, retryAfterMs, hostFailure: status >= 500 || status === 408 };
}

/** Errors of the HTTP client: refusals of the URL are permanent, the rest (network, timeouts) retried. */
export function classifyError(error: unknown): Outcome {
  if (error instanceof RemoteFetchError) {
    const message = `${error.code}: ${error.message}`;
    if (error.code === "invalid_url" || error.code === "private_address" || error.code === "too_many_redirects") {
      return { kind: "permanent", error: message, gone: false };
    }
    return { kind: "retry", error: message, hostFailure: error.code !== "too_large" };
  }
  return { kind: "retry", error: `network: ${(error as Error)?.message ?? String(error)}`, hostFailure: true };
}
