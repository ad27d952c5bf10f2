import { and, eq, gt, like, lt, type SQL, sql } from "drizzle-orm";
import type { Executor } from "../../db/database.js";
import { deliveries, hostSlots, hostStates } from "../../db/schema/index.js";
import type { DeliveryTuning } from "./policy.js";

/**
 * Per-host state shared by every worker process, in PostgreSQL: slots (at most
 * DELIVERY_MAX_PER_HOST requests in flight per host) and the short-term breaker (a host that
 * failed `pauseThreshold` times within `pauseWindowMs` is paused `pauseMs`). Every row carries an
 * `expires_at`; housekeeping deletes expired ones, and readers ignore them meanwhile.
 * A host is `URL.host` of the peer: lower-case name, `:port` when not the default.
 */

/** `last_error` of a delivery held back by its host's pause. */
export const HOST_PAUSED = "host paused";

export function hostOf(url: string): string | null {
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}

const ms = (value: number) => sql`(${value} * interval '1 millisecond')`;

/**
 * Takes a free slot of `host` for `holder` (or one whose holder died: its lease expired); null when
 * all `max` are taken. Two takers racing for one slot: one wins, the other tries another.
 */
export async function acquireHostSlot(db: Executor, host: string, max: number, holder: string, leaseMs: number): Promise<number | null> {
  for (let round = 0; round < 3; round++) {
    const rows = await db.execute<{ slot: number }>(sql`
      INSERT INTO ${hostSlots} (host, slot, holder, expires_at)
      SELECT ${host}, s, ${holder}, now() + ${ms(leaseMs)}
      FROM generate_series(0, ${max - 1}::int) AS s
      WHERE NOT EXISTS (SELECT 1 FROM ${hostSlots} h WHERE h.host = ${host} AND h.slot = s AND h.expires_at > now())
      ORDER BY random()
      LIMIT 1
      ON CONFLICT (host, slot) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
        WHERE ${hostSlots.expiresAt} <= now()
      RETURNING slot`);
    if (rows.length > 0) return rows[0].slot;
    // Nothing free at all: no point in another round.
    const [{ free }] = await db.execute<{ free: boolean }>(
      sql`SELECT count(*) < ${max} AS free FROM ${hostSlots} WHERE host = ${host} AND slot < ${max} AND expires_at > now()`,
    );
    if (!free) return null;
  }
  return null;
}

export async function releaseHostSlot(db: Executor, host: string, slot: number, holder: string): Promise<void> {
  await db.delete(hostSlots).where(and(eq(hostSlots.host, host), eq(hostSlots.slot, slot), eq(hostSlots.holder, holder)));
}

/** Until when the host is paused (null: it is not). */
export async function hostPausedUntil(db: Executor, host: string): Promise<Date | null> {
  const [row] = await db
    .select({ pausedUntil: hostStates.pausedUntil })
    .from(hostStates)
    .where(and(eq(hostStates.host, host), gt(hostStates.pausedUntil, sql`now()`)));
  return row?.pausedUntil ?? null;
}

/**
 * Counts a failure of the host (down, not merely busy) in its current window; the
 * `pauseThreshold`-th within `pauseWindowMs` pauses it for `pauseMs`. Returns the pause end when
 * this failure started one.
 */
export async function recordHostFailure(
  db: Executor,
  host: string,
  tuning: Pick<DeliveryTuning, "pauseThreshold" | "pauseWindowMs" | "pauseMs">,
): Promise<Date | null> {
  const window = ms(tuning.pauseWindowMs);
  const [row] = await db.execute<{ failures: number; paused: boolean }>(sql`
    INSERT INTO ${hostStates} AS s (host, failures, window_started_at, paused_until, expires_at)
    VALUES (${host}, 1, now(), NULL, now() + ${window})
    ON CONFLICT (host) DO UPDATE SET
      failures = CASE WHEN s.window_started_at <= now() - ${window} THEN 1 ELSE s.failures + 1 END,
      window_started_at = CASE WHEN s.window_started_at <= now() - ${window} THEN now() ELSE s.window_started_at END,
      expires_at = GREATEST(s.expires_at, now() + ${window})
    RETURNING failures, COALESCE(paused_until > now(), false) AS paused`);
  if (!row || row.paused || row.failures < tuning.pauseThreshold) return null;
  const [paused] = await db.execute<{ paused_until: number }>(sql`
    UPDATE ${hostStates} SET paused_until = now() + ${ms(tuning.pauseMs)}, failures = 0, window_started_at = now(),
      expires_at = now() + ${ms(tuning.pauseMs)} + ${window}
    WHERE host = ${host} AND (paused_until IS NULL OR paused_until <= now())
    RETURNING (extract(epoch FROM paused_until) * 1000)::float8 AS paused_until`);
  return paused ? new Date(paused.paused_until) : null;
}

/**
 * The host is alive (the inbox got a request signed by one of its actors): forget its failures
 * and lift its pause. Cheap when there is nothing to reset (one delete by key). Deliveries held
 * by a lifted pause are due again at once; the reconciler brings their delayed jobs forward.
 */
export async function resetHostPause(db: Executor, host: string): Promise<void> {
  const removed = await db
    .delete(hostStates)
    .where(eq(hostStates.host, host.toLowerCase()))
    .returning({ pausedUntil: hostStates.pausedUntil });
  const now = new Date();
  if (removed.some((row) => row.pausedUntil && row.pausedUntil > now)) await releaseHeldDeliveries(db, host);
}

/**
 * resetHostPause for the inbox, in one round trip with its domain-block check: a host for which
 * `refused` holds is left as it is and gets false.
 */
export async function admitSigningHost(db: Executor, host: string, refused: SQL<boolean>): Promise<boolean> {
  const [row] = await db.execute<{ refused: boolean; was_paused: boolean }>(sql`
    WITH refusal AS (SELECT ${refused} AS refused),
    lifted AS (
      DELETE FROM ${hostStates} WHERE host = ${host.toLowerCase()} AND NOT (SELECT refused FROM refusal)
      RETURNING paused_until)
    SELECT (SELECT refused FROM refusal) AS refused, EXISTS (SELECT 1 FROM lifted WHERE paused_until > now()) AS was_paused`);
  if (row.refused) return false;
  if (row.was_paused) await releaseHeldDeliveries(db, host);
  return true;
}

/** Deliveries held by a host's pause are due now. */
async function releaseHeldDeliveries(db: Executor, host: string): Promise<void> {
  const now = new Date();
  await db
    .update(deliveries)
    .set({ nextAttemptAt: now, updatedAt: now })
    .where(
      and(
        eq(deliveries.status, "pending"),
        like(deliveries.lastError, `${HOST_PAUSED}%`),
        gt(deliveries.nextAttemptAt, now),
        sql`split_part(split_part(lower(${deliveries.inboxUrl}), '://', 2), '/', 1) = ${host.toLowerCase()}`,
      ),
    );
}

/** Housekeeping: expired slots (holders that died) and expired host states. */
export async function purgeExpiredHostState(db: Executor): Promise<{ hostSlots: number; hostStates: number }> {
  const slots = await db.delete(hostSlots).where(lt(hostSlots.expiresAt, sql`now()`)).returning({ host: hostSlots.host });
  const states = await db.delete(hostStates).where(lt(hostStates.expiresAt, sql`now()`)).returning({ host: hostStates.host });
  return { hostSlots: slots.length, hostStates: states.length };
}
