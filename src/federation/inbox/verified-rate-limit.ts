import type { RateLimitSetting } from "../../config/config.js";
import { INBOX_SCOPE, inboxHostKey, type RateLimitHit, rateLimiter, rateLimitHeaders } from "../../http/rate-limit.js";
import type { InboxCtx, InboxDeps, RequestData } from "./inbox-context.js";

/**
 * RATE_LIMIT_INBOX: counted in the listeners, so only for requests whose signature Fedify
 * verified (HTTP signature, Linked Data signature or integrity proof), per host of the verified
 * actor — the signer's owner, which Fedify checked. A forger cannot spend it; a sender cannot
 * dodge it by naming other keys (several keyIds are refused before). The request that goes past
 * the limit is itself refused (429 + Retry-After, nothing stored); the next ones are refused
 * before verification (http/rate-limit.ts reads the same count). The 410-Delete of a gone actor
 * (on-unverified.ts) is not verified and not counted: RATE_LIMIT_INBOX_IP bounds it.
 */

const counted = new WeakMap<RequestData, { setting: RateLimitSetting; hit: RateLimitHit }>();

/** Counts one verified request of the actor's host; true when that goes past the limit. */
export async function spendInboxBudget(deps: InboxDeps, ctx: InboxCtx, actorUri: string): Promise<boolean> {
  const setting = deps.config.rateLimitInbox;
  // Only requests: a context built outside one (workers) has nothing to count.
  if (!setting || !ctx.data) return false;
  const host = new URL(actorUri).host;
  let hit: RateLimitHit;
  try {
    hit = await rateLimiter(deps).hit(INBOX_SCOPE, inboxHostKey(host), setting);
  } catch (error) {
    deps.logger.warn({ err: error, scope: INBOX_SCOPE }, "rate limit not counted (store unavailable)");
    return false;
  }
  counted.set(ctx.data, { setting, hit });
  return hit.count > setting.max;
}

/** Mastodon's X-RateLimit-* (and Retry-After past the limit) for the answer to a counted request. */
export function inboxRateHeaders(data: RequestData): Record<string, string> {
  const entry = counted.get(data);
  if (!entry) return {};
  return rateLimitHeaders(entry.setting, entry.hit);
}
