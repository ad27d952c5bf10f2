import { createHash } from "node:crypto";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { RateLimitSetting } from "../config/config.js";
import type { Deps } from "../shared/deps.js";

/**
 * Fixed-window rate limits shared by every process: one INCR+PEXPIRE per request in Redis when
 * REDIS_URL is set, else one upsert of an expiring `fedify_kv` row (housekeeping purges expired
 * rows). A limiter that cannot count (its store is down) lets the request through: the limit is a
 * guard against floods, not a reason to refuse service while Redis is away.
 */

export interface RateLimitHit {
  count: number;
  /** Epoch ms when the window ends. */
  resetAt: number;
}

export interface RateLimiter {
  hit(scope: string, id: string, setting: RateLimitSetting): Promise<RateLimitHit>;
  /** The current window's count, not raised. */
  peek(scope: string, id: string, setting: RateLimitSetting): Promise<RateLimitHit>;
}

export function rateLimiter(deps: Pick<Deps, "db" | "queues">): RateLimiter {
  const { backend } = deps.queues;
  const windowOf = (setting: RateLimitSetting) => {
    const window = Math.floor(Date.now() / setting.windowMs);
    return { window, resetAt: (window + 1) * setting.windowMs };
  };
  const redisKey = (scope: string, id: string, window: number) => `${backend.prefix ?? "bull"}:parley:ratelimit:${scope}:${id}:${window}`;
  const kvKey = (scope: string, id: string, window: number) => JSON.stringify(["parley", "ratelimit", scope, id, window]);
  return {
    async peek(scope, id, setting) {
      const { window, resetAt } = windowOf(setting);
      if (backend.kind === "redis" && backend.commands) {
        const redis = await backend.commands();
        return { count: Number((await redis.get(redisKey(scope, id, window))) ?? 0), resetAt };
      }
      const [row] = await deps.db.$client<{ count: string }[]>`
        SELECT (value #>> '{}') AS count FROM fedify_kv WHERE key = ${kvKey(scope, id, window)} AND expires_at > now()`;
      return { count: Number(row?.count ?? 0), resetAt };
    },
    async hit(scope, id, setting) {
      const { window, resetAt } = windowOf(setting);
      if (backend.kind === "redis" && backend.commands) {
        const redis = await backend.commands();
        const key = redisKey(scope, id, window);
        const result = await redis
          .multi()
          .incr(key)
          .pexpire(key, setting.windowMs + 1_000)
          .exec();
        const [error, count] = result?.[0] ?? [new Error("rate limit: no reply")];
        if (error) throw error;
        return { count: Number(count), resetAt };
      }
      const key = kvKey(scope, id, window);
      const [row] = await deps.db.$client<{ count: string }[]>`
        INSERT INTO fedify_kv (key, value, expires_at) VALUES (${key}, '1'::jsonb, ${new Date(resetAt + 1_000).toISOString()}::timestamptz)
        ON CONFLICT (key) DO UPDATE SET value = to_jsonb((fedify_kv.value #>> '{}')::bigint + 1)
        RETURNING (value #>> '{}') AS count`;
      return { count: Number(row.count), resetAt };
    },
  };
}

/**
 * Counts one request and sets Mastodon's X-RateLimit-* headers; past the limit answers 429 with
 * Retry-After and returns false. A counting failure is logged and lets the request through.
 */
export async function applyRateLimit(
  deps: Pick<Deps, "logger">,
  limiter: RateLimiter,
  scope: string,
  id: string,
  setting: RateLimitSetting | null,
  res: Response,
): Promise<boolean> {
  if (!setting) return true;
  let hit: RateLimitHit;
  try {
    hit = await limiter.hit(scope, id, setting);
  } catch (error) {
    deps.logger.warn({ err: error, scope }, "rate limit not counted (store unavailable)");
    return true;
  }
  res.set(rateLimitHeaders(setting, hit));
  if (hit.count <= setting.max) return true;
  res.status(429).json({ error: "rate_limited" });
  return false;
}

/** Mastodon's X-RateLimit-* for a counted request, and Retry-After once past the limit. */
export function rateLimitHeaders(setting: RateLimitSetting, hit: RateLimitHit): Record<string, string> {
  const headers: Record<string, string> = {
    "X-RateLimit-Limit": String(setting.max),
    "X-RateLimit-Remaining": String(Math.max(0, setting.max - hit.count)),
    "X-RateLimit-Reset": new Date(hit.resetAt).toISOString(),
  };
  if (hit.count > setting.max) headers["Retry-After"] = retryAfterSeconds(hit.resetAt);
  return headers;
}

const retryAfterSeconds = (resetAt: number) => String(Math.max(1, Math.ceil((resetAt - Date.now()) / 1000)));

/** Per bearer token (its hash: the token itself never reaches Redis or the database). */
export function tokenKey(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 32);
}

/** The counter RATE_LIMIT_INBOX keeps per remote host (spent only by verified requests). */
export const INBOX_SCOPE = "inbox";
export const inboxHostKey = (host: string) => `host:${host.toLowerCase()}`;

function refuse(res: Response, resetAt: number): void {
  res.set("Retry-After", retryAfterSeconds(resetAt));
  res.status(429).json({ error: "rate_limited" });
}

/**
 * The two checks of an inbox POST before its signature is verified, both cheap and neither
 * aimable by a forger at someone else's host:
 *  - RATE_LIMIT_INBOX_IP per client address (the socket's, or a trusted proxy's X-Forwarded-For);
 *  - RATE_LIMIT_INBOX read, not counted, for the host of the signature's keyId: a host whose
 *    verified requests already used up the window would be refused after verification anyway, so
 *    it is refused before the key fetch and RSA work. Only verified requests raise that count
 *    (federation/inbox/verified-rate-limit.ts), so naming a host here cannot spend its budget.
 */
export function inboxPreVerificationLimits(deps: Deps): RequestHandler {
  const limiter = rateLimiter(deps);
  return async (req: Request, res: Response, next: NextFunction) => {
    const perAddress = deps.config.rateLimitInboxIp;
    if (perAddress) {
      try {
        const hit = await limiter.hit("inbox-ip", `ip:${req.ip}`, perAddress);
        if (hit.count > perAddress.max) return refuse(res, hit.resetAt);
      } catch (error) {
        deps.logger.warn({ err: error, scope: "inbox-ip" }, "rate limit not counted (store unavailable)");
      }
    }
    const perHost = deps.config.rateLimitInbox;
    const host = res.locals.signatureKeyIdHost as string | undefined;
    if (perHost && host) {
      try {
        const spent = await limiter.peek(INBOX_SCOPE, inboxHostKey(host), perHost);
        if (spent.count >= perHost.max) return refuse(res, spent.resetAt);
      } catch (error) {
        deps.logger.warn({ err: error, scope: INBOX_SCOPE }, "rate limit not read (store unavailable)");
      }
    }
    next();
  };
}
