import { sql } from "drizzle-orm";
import { z } from "zod";
import { errors } from "../http/entities.js";
import { defineRoute } from "../http/route.js";

/**
 * MLS traffic per actor, for moderators: how many objects of each kind an actor sent and received,
 * their size and when — never their content (Parley cannot read it, and does not show the ciphertext
 * either). Busiest senders first.
 */

const TrafficEntry = z.object({
  actor: z.string(),
  acct: z.string(),
  local: z.boolean(),
  sent: z.object({
    objects: z.number(),
    bytes: z.number(),
    by_type: z.record(z.string(), z.number()),
    commits: z.number(),
  }),
  received: z.number(),
  groups: z.number(),
  last_sent_at: z.string().nullable(),
});

export const adminMlsRoutes = [
  defineRoute({
    method: "get",
    path: "/api/v1/admin/mls/traffic",
    summary: "MLS traffic per actor (counts, sizes, groups; no content), busiest senders first",
    tags: ["admin"],
    auth: "admin",
    query: z.object({
      /** Only objects stored after this instant (ISO 8601); default: the last 24 hours. */
      since: z.iso.datetime({ offset: true }).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(100),
    }),
    responses: { 200: { description: "Traffic per actor", schema: z.array(TrafficEntry) }, ...errors },
    async handle({ deps, query }) {
      const since = (query.since ? new Date(query.since) : new Date(Date.now() - 24 * 3600_000)).toISOString();
      const rows = await deps.db.execute<{
        actor: string;
        username: string;
        domain: string | null;
        objects: number;
        bytes: string;
        by_type: Record<string, number>;
        commits: number;
        received: number;
        groups: number;
        last_sent_at: Date | null;
      }>(sql`
        WITH sent AS (
          SELECT sender_id AS account_id, count(*)::int AS objects, sum(size)::bigint AS bytes,
                 count(*) FILTER (WHERE content_type = 'commit')::int AS commits, max(created_at) AS last_sent_at
          FROM mls_objects WHERE created_at >= ${since} GROUP BY sender_id),
        by_type AS (
          SELECT account_id, jsonb_object_agg(type, n) AS by_type FROM (
            SELECT sender_id AS account_id, type, count(*)::int AS n FROM mls_objects
            WHERE created_at >= ${since} GROUP BY sender_id, type) t GROUP BY account_id),
        received AS (
          SELECT owner_id AS account_id, count(*)::int AS received FROM mls_mailbox
          WHERE created_at >= ${since} GROUP BY owner_id),
        who AS (SELECT account_id FROM sent UNION SELECT account_id FROM received)
        SELECT a.uri AS actor, a.username, a.domain,
               coalesce(s.objects, 0) AS objects, coalesce(s.bytes, 0) AS bytes, coalesce(t.by_type, '{}') AS by_type,
               coalesce(s.commits, 0) AS commits, coalesce(r.received, 0) AS received,
               (SELECT count(*)::int FROM mls_group_members g WHERE g.account_id = a.id) AS groups, s.last_sent_at
        FROM who JOIN accounts a ON a.id = who.account_id
        LEFT JOIN sent s ON s.account_id = a.id LEFT JOIN by_type t ON t.account_id = a.id LEFT JOIN received r ON r.account_id = a.id
        ORDER BY coalesce(s.objects, 0) DESC, coalesce(r.received, 0) DESC, a.uri
        LIMIT ${query.limit}`);
      return rows.map((row) => ({
        actor: row.actor,
        acct: row.domain ? `${row.username}@${row.domain}` : row.username,
        local: row.domain === null,
        sent: { objects: row.objects, bytes: Number(row.bytes), by_type: row.by_type, commits: row.commits },
        received: row.received,
        groups: row.groups,
        last_sent_at: row.last_sent_at ? new Date(row.last_sent_at).toISOString() : null,
      }));
    },
  }),
];
