import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { builtOnce, type Database, type Executor } from "../db/database.js";
import { accessTokens, accounts } from "../db/schema/index.js";
import { newId } from "../shared/ids.js";
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

/** Constant-time comparison for the admin token. */
export function tokensEqual(given: string, expected: string): boolean {
  const a = Buffer.from(hashToken(given));
  const b = Buffer.from(hashToken(expected));
  return timingSafeEqual(a, b);
}
