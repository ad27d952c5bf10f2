import { sql } from "drizzle-orm";
import type { RequestHandler } from "express";
import type { AccountRow } from "../accounts/account.view.js";
import type { ByteQuotaSetting } from "../config/config.js";
import type { Executor } from "../db/database.js";
import { media } from "../db/schema/index.js";
import type { Deps } from "../shared/deps.js";
import { DomainError } from "../shared/errors.js";

/**
 * MEDIA_UPLOAD_QUOTA: the bytes of the `media` rows an account created within the last window
 * (a sliding window, counted in PostgreSQL: exact, shared by every web process, nothing to lose
 * when Redis goes). An upload is refused before its body is read when the quota is already spent
 * or its Content-Length alone says it would be; otherwise it is counted once stored, under a
 * per-account lock (uploads of one account in parallel cannot all pass the same check).
 */

/** Room for the multipart framing and text fields around the file (as storage.ts allows). */
const MULTIPART_OVERHEAD = 256 * 1024;

const windowSql = (quota: ByteQuotaSetting) => sql`now() - make_interval(secs => ${quota.windowMs / 1000})`;

/** Bytes the account stored within the window. */
export async function bytesUploaded(db: Executor, accountId: string, quota: ByteQuotaSetting): Promise<number> {
  const [row] = await db.execute<{ used: number }>(
    sql`SELECT coalesce(sum(${media.size}), 0)::float8 AS used FROM ${media}
        WHERE ${media.accountId} = ${accountId} AND ${media.createdAt} > ${windowSql(quota)}`,
  );
  return Number(row?.used ?? 0);
}

/** Seconds until enough of the window's bytes have left it for `size` more to fit. */
async function secondsUntilRoom(db: Executor, accountId: string, quota: ByteQuotaSetting, used: number, size: number): Promise<number> {
  const needed = used + size - quota.maxBytes;
  const [row] = await db.execute<{ wait: number | null }>(
    sql`SELECT ceil(extract(epoch FROM created_at + make_interval(secs => ${quota.windowMs / 1000}) - now()))::float8 AS wait
        FROM (SELECT ${media.createdAt} AS created_at, sum(${media.size}) OVER (ORDER BY ${media.createdAt}, ${media.id}) AS freed
              FROM ${media} WHERE ${media.accountId} = ${accountId} AND ${media.createdAt} > ${windowSql(quota)}) window_rows
        WHERE freed >= ${needed} ORDER BY created_at LIMIT 1`,
  );
  return Math.max(1, Number(row?.wait ?? quota.windowMs / 1000));
}

/**
 * 429 `upload_quota_exceeded` with Retry-After (when the bytes leave the window), or 413 when
 * the file alone is larger than the whole quota (waiting would not help).
 */
async function quotaExceeded(db: Executor, accountId: string, quota: ByteQuotaSetting, used: number, size: number): Promise<DomainError> {
  const details = { limit_bytes: quota.maxBytes, window_seconds: quota.windowMs / 1000 };
  if (size > quota.maxBytes)
    return new DomainError("too_large", "upload_quota_exceeded", { ...details, message: "the file is larger than the whole upload quota" });
  const wait = await secondsUntilRoom(db, accountId, quota, used, size);
  return new DomainError("rate_limited", "upload_quota_exceeded", { ...details, used_bytes: used }, wait);
}

/** Before the body is read: refuses an account whose quota is spent, or an announced body that cannot fit. */
export function uploadQuotaGate(deps: Deps): RequestHandler {
  return (req, res, next) => {
    const quota = deps.config.mediaUploadQuota;
    const account = res.locals.account as AccountRow | undefined;
    if (!quota || !account) return next();
    const length = Number(req.get("content-length"));
    // The smallest file such a body can hold: what the framing and fields cannot account for.
    const atLeast = Math.max(1, Number.isFinite(length) ? length - MULTIPART_OVERHEAD : 0);
    bytesUploaded(deps.db, account.id, quota)
      .then(async (used) =>
        next(used + atLeast > quota.maxBytes ? await quotaExceeded(deps.db, account.id, quota, used, atLeast) : undefined),
      )
      .catch(next);
  };
}

/**
 * In the transaction that records an upload: waits for the account's other uploads to be
 * recorded, then throws when `size` more bytes would pass the quota.
 */
export async function claimUploadQuota(tx: Executor, accountId: string, quota: ByteQuotaSetting | null, size: number): Promise<void> {
  if (!quota) return;
  await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`parley.media-quota:${accountId}`}, 0))`);
  const used = await bytesUploaded(tx, accountId, quota);
  if (used + size > quota.maxBytes) throw await quotaExceeded(tx, accountId, quota, used, size);
}
