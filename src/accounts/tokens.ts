import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { builtOnce, type Database, type Executor } from "../db/database.js";
import { accessTokens, accounts } from "../db/schema/index.js";
import { newId } from "../shared/ids.js";
import { publishTokenRevoked } from "../streaming/events.js";
import type { AccountRow } from "./account.view.js";

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Issues a new bearer token; only its hash is stored. */
export async function issueToken(db: Executor, accountId: string): Promise<string> {
  const token = randomBytes(32).toString("base64url");
  await db.insert(accessTokens).values({ id: newId(), accountId, tokenHash: hashToken(token) });
  return token;
}

const accountForTokenQuery = builtOnce((db) =>
  db
    .select({ account: accounts })
    .from(accessTokens)
    .innerJoin(accounts, eq(accounts.id, accessTokens.accountId))
    .where(eq(accessTokens.tokenHash, sql.placeholder("hash")))
    .limit(1)
    .prepare("account_for_token"),
);

/** The account a bearer token names (every authenticated request asks). */
export async function accountForToken(db: Database, token: string): Promise<AccountRow | undefined> {
  const [row] = await accountForTokenQuery(db).execute({ hash: hashToken(token) });
  return row?.account;
}

const sessionForTokenQuery = builtOnce((db) =>
  db
    .select({ account: accounts, tokenId: accessTokens.id })
    .from(accessTokens)
    .innerJoin(accounts, eq(accounts.id, accessTokens.accountId))
    .where(eq(accessTokens.tokenHash, sql.placeholder("hash")))
    .limit(1)
    .prepare("session_for_token"),
);

/** The account of a bearer token and the token's row id (streaming sockets are closed by it when it is revoked). */
export async function sessionForToken(db: Database, token: string): Promise<{ account: AccountRow; tokenId: string } | undefined> {
  const [row] = await sessionForTokenQuery(db).execute({ hash: hashToken(token) });
  return row;
}

/**
 * Revokes tokens: one by its value, or every token of an account. Each revocation is announced
 * in the same transaction, so the streaming sockets opened with it close once it has committed.
 * Returns how many were revoked.
 */
export async function revokeTokens(db: Database, which: { token: string } | { accountId: string }): Promise<number> {
  return db.transaction(async (tx) => {
    const revoked = await tx
      .delete(accessTokens)
      .where("token" in which ? eq(accessTokens.tokenHash, hashToken(which.token)) : eq(accessTokens.accountId, which.accountId))
      .returning({ id: accessTokens.id, accountId: accessTokens.accountId });
    for (const row of revoked) await publishTokenRevoked(tx, row.accountId, row.id);
    return revoked.length;
  });
}

/** Constant-time comparison for the admin token. */
export function tokensEqual(given: string, expected: string): boolean {
  const a = Buffer.from(hashToken(given));
  const b = Buffer.from(hashToken(expected));
  return timingSafeEqual(a, b);
}
