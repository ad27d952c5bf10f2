import { and, asc, desc, eq, type SQL, sql } from "drizzle-orm";
import type { Executor } from "../db/database.js";
import { accounts, blocks, mutes } from "../db/schema/index.js";
import type { AccountRow } from "./account.view.js";

/** Mastodon's Relationship entity plus Pleroma's `subscribing`: the parts a chat service knows are real. */
export function renderRelationship(id: string, flags: { blocking: boolean; blockedBy: boolean; muting: boolean }) {
  return {
    id,
    following: false,
    showing_reblogs: false,
    notifying: false,
    followed_by: false,
    blocking: flags.blocking,
    blocked_by: flags.blockedBy,
    muting: flags.muting,
    // A mute hides the muted account's chat notifications too (they are created already seen).
    muting_notifications: flags.muting,
    requested: false,
    requested_by: false,
    domain_blocking: false,
    endorsed: false,
    note: "",
    subscribing: false,
  };
}

export type RelationshipJson = ReturnType<typeof renderRelationship>;

/**
 * The viewer's relationships to `ids`, in the order asked, each id once, in one statement (the
 * ids travel as one JSON parameter, so any count is the same prepared statement). Unknown and
 * deleted accounts are skipped, as Mastodon skips them; a remote account gone from its server
 * only with `withSuspended` (Mastodon's `with_suspended`).
 */
export async function relationshipsOf(
  db: Executor,
  viewerId: string,
  ids: string[],
  options: { withSuspended?: boolean } = {},
): Promise<RelationshipJson[]> {
  const asked = [...new Set(ids)];
  if (asked.length === 0) return [];
  const rows = await db.execute<{ id: string; blocking: boolean; blocked_by: boolean; muting: boolean }>(sql`
    SELECT a.id,
      EXISTS (SELECT 1 FROM ${blocks} b WHERE b.account_id = ${viewerId} AND b.target_account_id = a.id) AS blocking,
      EXISTS (SELECT 1 FROM ${blocks} b WHERE b.account_id = a.id AND b.target_account_id = ${viewerId}) AS blocked_by,
      EXISTS (SELECT 1 FROM ${mutes} m WHERE m.account_id = ${viewerId} AND m.target_account_id = a.id) AS muting
    FROM jsonb_array_elements_text(${JSON.stringify(asked)}::jsonb) WITH ORDINALITY AS asked(id, position)
    JOIN ${accounts} a ON a.id = asked.id
    WHERE a.deleted_at IS NULL ${options.withSuspended ? sql`` : sql`AND a.gone_at IS NULL`}
    ORDER BY asked.position`);
  return rows.map((row) => renderRelationship(row.id, { blocking: row.blocking, blockedBy: row.blocked_by, muting: row.muting }));
}

type RelationTable = typeof blocks | typeof mutes;

export interface RelationPage {
  maxId?: string;
  minId?: string;
  sinceId?: string;
  limit: number;
}

/** `<created_at in µs since the epoch>_<account id>`: a relation row's sort key, as the Link header carries it. */
const RELATION_CURSOR = /^(\d{1,17})_(.+)$/;

/**
 * The `(created_at, target_account_id)` a cursor stands for: a Link cursor carries the key itself
 * (it stays put when that row is removed during a walk); a bare account id (Pleroma-FE pages with
 * the last account's id) means that account's row now, and matches nothing once it is gone.
 */
function cursorKey(table: RelationTable, ownerId: string, cursor: string): SQL {
  const key = RELATION_CURSOR.exec(cursor);
  if (key) return sql`(timestamptz 'epoch' + ${key[1]}::bigint * interval '1 microsecond', ${key[2]}::text)`;
  return sql`(SELECT r.created_at, r.target_account_id FROM ${table} r WHERE r.account_id = ${ownerId} AND r.target_account_id = ${cursor})`;
}

/**
 * The accounts a user blocks (or mutes), most recent first. The keyset is the relation row's
 * `(created_at, target_account_id)`: the rows have no id of their own, the account ids order by
 * the accounts' creation rather than by when they were blocked, and the pair is unique per owner
 * (the primary key is `(account_id, target_account_id)`). A user's list is read from the primary
 * key's prefix and sorted: it is as long as the people that user blocked.
 */
export async function listRelated(
  db: Executor,
  table: RelationTable,
  ownerId: string,
  page: RelationPage,
): Promise<{ accounts: AccountRow[]; cursors: string[] }> {
  const conditions: SQL[] = [eq(table.accountId, ownerId)];
  const key = sql`(${table.createdAt}, ${table.targetAccountId})`;
  if (page.maxId) conditions.push(sql`${key} < ${cursorKey(table, ownerId, page.maxId)}`);
  const after = page.minId ?? page.sinceId;
  if (after) conditions.push(sql`${key} > ${cursorKey(table, ownerId, after)}`);
  // min_id pages forward from the cursor: take the nearest rows, then return them newest first.
  const ascending = page.minId !== undefined;
  const rows = await db
    .select({
      account: accounts,
      cursor: sql<string>`(extract(epoch from ${table.createdAt}) * 1000000)::bigint::text || '_' || ${table.targetAccountId}`,
    })
    .from(table)
    .innerJoin(accounts, eq(accounts.id, table.targetAccountId))
    .where(and(...conditions))
    .orderBy(...(ascending ? [asc(table.createdAt), asc(table.targetAccountId)] : [desc(table.createdAt), desc(table.targetAccountId)]))
    .limit(page.limit);
  if (ascending) rows.reverse();
  return { accounts: rows.map((row) => row.account), cursors: rows.map((row) => row.cursor) };
}
