import { sql } from "drizzle-orm";
import type { Executor } from "../db/database.js";
import { accounts } from "../db/schema/index.js";
import { type MentionTarget, mentionKey } from "./compose.js";

/** Distinct mentions of one message that are looked up; any further one stays text. */
const MAX_MENTIONS = 50;

/**
 * The known accounts among `keys` (`name`, `name@host`), by key, in one query: local accounts by
 * name (also as `name@<our host>`), cached remote ones by name and domain. Deleted accounts and
 * names never seen stay unknown: Pleroma links only accounts it has (no lookup while composing).
 */
export async function findMentionTargets(db: Executor, keys: string[], publicUrl: string): Promise<Map<string, MentionTarget>> {
  const found = new Map<string, MentionTarget>();
  if (keys.length === 0) return found;
  const localHost = new URL(publicUrl).host.toLowerCase();
  const pairs = keys.slice(0, MAX_MENTIONS).map((key) => {
    const [username, host] = key.split("@");
    return { username, domain: host === undefined || host === localHost ? "" : host };
  });
  // Matches the unique index (lower(username), coalesce(domain, '')).
  const rows = (await db.execute(sql`
    SELECT a.id, a.username, a.domain, a.uri, a.url FROM ${accounts} a
    JOIN unnest(${sql.param(pairs.map((p) => p.username))}::text[], ${sql.param(pairs.map((p) => p.domain))}::text[]) AS k(username, domain)
      ON lower(a.username) = k.username AND coalesce(a.domain, '') = k.domain
    WHERE a.deleted_at IS NULL`)) as unknown as { id: string; username: string; domain: string | null; uri: string; url: string | null }[];
  for (const row of rows) {
    const target = { id: row.id, username: row.username, url: row.url ?? row.uri };
    if (row.domain === null) {
      found.set(mentionKey(row.username), target);
      found.set(mentionKey(row.username, localHost), target);
    } else found.set(mentionKey(row.username, row.domain), target);
  }
  return found;
}
