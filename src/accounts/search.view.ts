import { and, asc, desc, eq, isNull, notExists, or, type SQL, sql } from "drizzle-orm";
import type { Executor } from "../db/database.js";
import { accounts, blocks } from "../db/schema/index.js";
import type { AccountRow } from "./account.view.js";

export interface AccountSearch {
  /** As the client typed it: `name`, `@name`, `name@host` (or a prefix of one), a display name, or a URL. */
  query: string;
  viewerId: string;
  /** `host[:port]` of PUBLIC_URL: `name@<this host>` is a local account. */
  localHost: string;
  limit: number;
  offset: number;
  /** An account just resolved from the query (resolve=true): shown first, also when the text would not match it. */
  resolvedId?: string;
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * Accounts whose `name@host` starts with the query (so a bare name matches every account of that
 * name or a longer one, local or cached remote, and `name@ho` narrows to hosts) or whose display
 * name contains it, case-insensitively; a URL matches the account with that actor id or profile
 * URL. Deleted local accounts, remote accounts gone from their server and accounts the viewer
 * blocks are left out (as Pleroma leaves out blocked ones). Ordered for a person looking someone up:
 * the resolved account, exact names, then name prefixes before display-name matches, local first,
 * then by name; the order is total, so `offset` pages are stable.
 *
 * A scan of the accounts table with LIKE: fine for the accounts a chat server knows (its users and
 * the people they talk to); a trigram index would be the next step if it ever is not.
 */
export async function searchAccounts(db: Executor, search: AccountSearch): Promise<AccountRow[]> {
  const text = search.query.trim().replace(/^@/, "").toLowerCase();
  if (!text && !search.resolvedId) return [];
  const acct = sql`lower(${accounts.username} || '@' || coalesce(${accounts.domain}, ${search.localHost.toLowerCase()}))`;
  const matches: SQL[] = [];
  // Ranks, best first (each a boolean sorted true first); only those the query has.
  const ranks: SQL[] = [];
  if (search.resolvedId) {
    matches.push(sql`${accounts.id} = ${search.resolvedId}`);
    ranks.push(sql`${accounts.id} = ${search.resolvedId}`);
  }
  if (/^https?:\/\//.test(text)) {
    // Compared as typed: an actor id is case-sensitive past its host.
    const url = search.query.trim();
    matches.push(sql`${accounts.uri} = ${url}`, sql`${accounts.url} = ${url}`);
  } else if (text) {
    const namePrefix = sql`${acct} LIKE ${`${escapeLike(text)}%`}`;
    matches.push(namePrefix, sql`lower(${accounts.displayName}) LIKE ${`%${escapeLike(text)}%`}`);
    ranks.push(text.includes("@") ? sql`${acct} = ${text}` : sql`lower(${accounts.username}) = ${text}`, namePrefix);
  }
  if (matches.length === 0) return [];
  return db
    .select()
    .from(accounts)
    .where(
      and(
        isNull(accounts.deletedAt),
        isNull(accounts.goneAt),
        notExists(
          db
            .select({ one: sql`1` })
            .from(blocks)
            .where(and(eq(blocks.accountId, search.viewerId), eq(blocks.targetAccountId, accounts.id))),
        ),
        or(...matches),
      ),
    )
    .orderBy(
      ...ranks.map((rank) => desc(rank)),
      desc(isNull(accounts.domain)),
      asc(sql`lower(${accounts.username})`),
      asc(accounts.domain),
      asc(accounts.id),
    )
    .limit(search.limit)
    .offset(search.offset);
}
