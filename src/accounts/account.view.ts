import { and, eq, inArray, isNull, sql } from "drizzle-orm";
import type { Executor } from "../db/database.js";
import { accounts, blocks, chats, mutes } from "../db/schema/index.js";

export type AccountRow = typeof accounts.$inferSelect;

/** Served for accounts without an avatar: a 1×1 grey PNG, as a data-free static path. */
export const MISSING_AVATAR_PATH = "/static/avatar-missing.png";

export function acctOf(account: Pick<AccountRow, "username" | "domain">): string {
  return account.domain ? `${account.username}@${account.domain}` : account.username;
}

/** Mastodon's Account entity plus Pleroma's `pleroma.accepts_chat_messages`. */
export function renderAccount(account: AccountRow, publicUrl: string) {
  const avatar = account.avatarUrl ?? `${publicUrl}${MISSING_AVATAR_PATH}`;
  return {
    id: account.id,
    username: account.username,
    acct: acctOf(account),
    display_name: account.displayName,
    locked: false,
    bot: false,
    discoverable: false,
    group: false,
    created_at: account.createdAt.toISOString(),
    note: account.note,
    url: account.url ?? account.uri,
    uri: account.uri,
    avatar,
    avatar_static: avatar,
    header: `${publicUrl}${MISSING_AVATAR_PATH}`,
    header_static: `${publicUrl}${MISSING_AVATAR_PATH}`,
    followers_count: 0,
    following_count: 0,
    statuses_count: 0,
    last_status_at: null,
    emojis: [],
    fields: [],
    fqn: `${account.username}@${account.domain ?? new URL(publicUrl).host}`,
    pleroma: {
      ap_id: account.uri,
      accepts_chat_messages: account.acceptsChatMessages,
      is_local: account.domain === null,
    },
  };
}

export type AccountJson = ReturnType<typeof renderAccount>;

/**
 * The token's own account (Mastodon's CredentialAccount): `source`, as Pleroma renders it for the
 * owner, and `pleroma.unread_chat_count` (see unreadChatCount).
 */
export function renderCredentialAccount(account: AccountRow, publicUrl: string, unreadChats: number) {
  const rendered = renderAccount(account, publicUrl);
  return {
    ...rendered,
    source: {
      note: account.note,
      fields: [],
      privacy: "public" as const,
      sensitive: false,
      language: null,
      pleroma: { actor_type: "Person" as const, discoverable: rendered.discoverable },
    },
    pleroma: { ...rendered.pleroma, unread_chat_count: unreadChats },
  };
}

/**
 * Unread messages over the chats the default chat list shows (hidden chats and blocked or muted
 * counterparts left out), so the badge a client draws from it matches the list. One statement over
 * the counters kept on each chat (no count of references).
 */
export async function unreadChatCount(db: Executor, accountId: string): Promise<number> {
  const [row] = await db.execute<{ unread: number }>(sql`
    SELECT coalesce(sum(c.unread), 0)::int AS unread
    FROM ${chats} c
    WHERE c.account_id = ${accountId} AND c.unread > 0 AND NOT c.hidden
      AND NOT EXISTS (SELECT 1 FROM ${blocks} b WHERE b.account_id = ${accountId} AND b.target_account_id = c.recipient_id)
      AND NOT EXISTS (SELECT 1 FROM ${mutes} m WHERE m.account_id = ${accountId} AND m.target_account_id = c.recipient_id)`);
  return row?.unread ?? 0;
}

/** An account the API may show (a deleted local account is gone for everyone). */
export async function findAccount(db: Executor, id: string): Promise<AccountRow | undefined> {
  const [row] = await db
    .select()
    .from(accounts)
    .where(and(eq(accounts.id, id), isNull(accounts.deletedAt)))
    .limit(1);
  return row;
}

export async function findAccounts(db: Executor, ids: string[]): Promise<Map<string, AccountRow>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .select()
    .from(accounts)
    .where(inArray(accounts.id, [...new Set(ids)]));
  return new Map(rows.map((row) => [row.id, row]));
}

/** A live local account by name (case-insensitive); deleted ones only when asked. */
export async function findLocalAccountByUsername(
  db: Executor,
  username: string,
  options: { includeDeleted?: boolean } = {},
): Promise<AccountRow | undefined> {
  // A NUL names no account (PostgreSQL refuses it in a query: the caller would answer 500).
  if (username.includes("\0")) return undefined;
  const [row] = await db
    .select()
    .from(accounts)
    .where(
      and(
        isNull(accounts.domain),
        sql`lower(${accounts.username}) = ${username.toLowerCase()}`,
        options.includeDeleted ? undefined : isNull(accounts.deletedAt),
      ),
    )
    .limit(1);
  return row;
}

/**
 * An account by Pleroma's nickname (`name` for a local account, `name@host[:port]` for a cached
 * remote one, either case) or by its id; no network lookup.
 */
export async function findAccountByNickname(db: Executor, nickname: string, publicUrl: string): Promise<AccountRow | undefined> {
  if (nickname.includes("\0")) return undefined;
  const [name, host, ...rest] = nickname.replace(/^@/, "").split("@");
  if (rest.length > 0 || !name) return undefined;
  if (host === undefined || host.toLowerCase() === new URL(publicUrl).host) {
    return (await findLocalAccountByUsername(db, name)) ?? (host === undefined ? await findAccount(db, nickname) : undefined);
  }
  const [row] = await db
    .select()
    .from(accounts)
    .where(and(sql`lower(${accounts.username}) = ${name.toLowerCase()}`, sql`coalesce(${accounts.domain}, '') = ${host.toLowerCase()}`))
    .limit(1);
  return row;
}
