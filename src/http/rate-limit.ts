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
}

export function rateLimiter(deps: Pick<Deps, "db" | "queues">): RateLimiter {
  const { backend } = deps.queues;
  return {
    async hit(scope, id, setting) {
      const window = Math.floor(Date.now() / setting.windowMs);
      const resetAt = (window + 1) * setting.windowMs;
      if (backend.kind === "redis" && backend.commands) {
        const redis = await backend.commands();
        const key = `${backend.prefix ?? "bull"}:parley:ratelimit:${scope}:${id}:${window}`;
        const result = await redis.multi().incr(key).pexpire(key, setting.windowMs + 1_000).exec();
        const [error, count] = result?.[0] ?? [new Error("rate limit: no reply")];
        if (error) throw error;
        return { count: Number(count), resetAt };
      }
      const key = JSON.stringify(["parley", "ratelimit", scope, id, window]);
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
  res.set("X-RateLimit-Limit", String(setting.max));
  res.set("X-RateLimit-Remaining", String(Math.max(0, setting.max - hit.count)));
  res.set("X-RateLimit-Reset", new Date(hit.resetAt).toISOString());
  if (hit.count <= setting.max) return true;
  res.set("Retry-After", String(Math.max(1, Math.ceil((hit.resetAt - Date.now()) / 1000))));
  res.status(429).json({ error: "rate_limited" });
  return false;
}

/** Per bearer token (its hash: the token itself never reaches Redis or the database). */
export function tokenKey(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 32);
}

/**
 * The remote host an inbox POST counts against: the host of its signature's keyId (draft-cavage
 * `Signature`, or RFC 9421 `Signature-Input`), read before the signature is verified so that a
 * flood costs no key fetch or RSA work; unsigned requests (refused anyway) count per client IP.
 * A forger can spend another host's budget, at worst delaying that host's retries.
 */
export function inboxRateKey(req: Request): string {
  const header = `${req.get("signature") ?? ""} ${req.get("signature-input") ?? ""}`;
  const keyId = header.match(/keyId="([^"]+)"/i)?.[1];
  if (keyId) {
    try {
      return `host:${new URL(keyId).host.toLowerCase()}`;
    } catch {
      // not a URL: fall through to the address
    }
  }
  return `ip:${req.ip ?? req.socket.remoteAddress ?? "unknown"}`;
}

/** RATE_LIMIT_INBOX on inbox POSTs, before the Fedify bridge. */
export function inboxRateLimit(deps: Deps): RequestHandler {
  const limiter = rateLimiter(deps);
  return async (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== "POST") return next();
    if (await applyRateLimit(deps, limiter, "inbox", inboxRateKey(req), deps.config.rateLimitInbox, res)) next();
  };
}
