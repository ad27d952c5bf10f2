import { isIP } from "node:net";
import { type SQL, sql } from "drizzle-orm";
import type { Executor } from "../db/database.js";
import { domainBlocks } from "../db/schema/index.js";

/**
 * The admin's domain blocks, as both directions check them: the inbox (403 for a blocked actor)
 * and delivery (nothing is sent). A block names `host[:port]` or a domain, and a block of a
 * domain covers its subdomains and every port.
 */

/** `host[:port]` as given, its bare host name, and each parent domain of a name (not of an IP). */
export function domainBlockCandidates(...hosts: string[]): string[] {
  const names = new Set<string>();
  for (const host of hosts) {
    names.add(host.toLowerCase());
    const hostname = host
      .replace(/:\d+$/, "")
      .replace(/^\[|\]$/g, "")
      .toLowerCase();
    names.add(hostname);
    if (isIP(hostname)) continue;
    const labels = hostname.split(".");
    for (let i = 1; i < labels.length - 1; i++) names.add(labels.slice(i).join("."));
  }
  return [...names];
}

/** SQL: true when the admin blocked one of these hosts (or a parent domain). */
export function domainBlockedSql(...hosts: string[]): SQL<boolean> {
  return sql<boolean>`EXISTS (SELECT 1 FROM ${domainBlocks} WHERE ${domainBlocks.domain} IN ${domainBlockCandidates(...hosts)})`;
}

export async function isHostBlocked(db: Executor, ...hosts: string[]): Promise<boolean> {
  const [row] = await db.execute<{ blocked: boolean }>(sql`SELECT ${domainBlockedSql(...hosts)} AS blocked`);
  return row?.blocked === true;
}
