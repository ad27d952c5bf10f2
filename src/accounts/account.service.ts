import { and, eq } from "drizzle-orm";
import { type Database, type Executor, pgErrorCode } from "../db/database.js";
import { accountKeys, accounts, type blocks, type mutes } from "../db/schema/index.js";
import { generateAccountKeys } from "../federation/keys.js";
import { DomainError } from "../shared/errors.js";
import { newId } from "../shared/ids.js";
import type { AccountRow } from "./account.view.js";
import { issueToken } from "./tokens.js";

const USERNAME = /^[a-z0-9_]{1,30}$/i;

export interface NewAccount {
  username: string;
  displayName?: string;
  acceptsChatMessages?: boolean;
}

/** Creates a local account with its keys and a first token, in one transaction. */
export async function createLocalAccount(
  db: Database,
  publicUrl: string,
  input: NewAccount,
): Promise<{ account: AccountRow; token: string }> {
  if (!USERNAME.test(input.username)) throw new DomainError("unprocessable", "invalid_username");
  // Key generation is slow (RSA); do it before taking any lock.
  const keys = await generateAccountKeys();
  const id = newId();
  const uri = `${publicUrl}/users/${input.username}`;
  try {
    return await db.transaction(async (tx) => {
      const [account] = await tx
        .insert(accounts)
        .values({
          id,
          username: input.username,
          domain: null,
          displayName: input.displayName ?? "",
          uri,
          url: uri,
          inboxUrl: `${uri}/inbox`,
          sharedInboxUrl: `${publicUrl}/inbox`,
          acceptsChatMessages: input.acceptsChatMessages ?? true,
        })
        .returning();
      await tx.insert(accountKeys).values(keys.map((key) => ({ accountId: id, ...key })));
      const token = await issueToken(tx, id);
      return { account, token };
    });
  } catch (error) {
    if (pgErrorCode(error) === "23505") throw new DomainError("conflict", "username_taken");
    throw error;
  }
}

export async function updateLocalAccount(
  db: Executor,
  account: AccountRow,
  changes: { displayName?: string; acceptsChatMessages?: boolean },
): Promise<AccountRow> {
  const set: Partial<typeof accounts.$inferInsert> = { updatedAt: new Date() };
  if (changes.displayName !== undefined) set.displayName = changes.displayName;
  if (changes.acceptsChatMessages !== undefined) set.acceptsChatMessages = changes.acceptsChatMessages;
  const [updated] = await db.update(accounts).set(set).where(eq(accounts.id, account.id)).returning();
  return updated;
}

type RelationTable = typeof blocks | typeof mutes;

export async function setRelation(db: Executor, table: RelationTable, accountId: string, targetId: string, on: boolean) {
  if (on) {
    await db.insert(table).values({ accountId, targetAccountId: targetId }).onConflictDoNothing();
  } else {
    await db.delete(table).where(and(eq(table.accountId, accountId), eq(table.targetAccountId, targetId)));
  }
}
