import { and, desc, eq, isNull } from "drizzle-orm";
import type { Executor } from "../db/database.js";
import { mlsKeyPackages } from "../db/schema/index.js";

/** Reads of the KeyPackages (the collection, one package). */

export type KeyPackageRow = typeof mlsKeyPackages.$inferSelect;

/** Where the package is live: neither removed by its owner nor consumed by a Welcome. */
export const live = and(isNull(mlsKeyPackages.removedAt), isNull(mlsKeyPackages.consumedAt));

/** The owner's package named by `uri`, live or not; undefined when it is not theirs or unknown. */
export async function findOwnKeyPackage(db: Executor, ownerId: string, uri: string): Promise<KeyPackageRow | undefined> {
  const [row] = await db
    .select()
    .from(mlsKeyPackages)
    .where(and(eq(mlsKeyPackages.uri, uri), eq(mlsKeyPackages.accountId, ownerId)));
  return row;
}

/** The live packages of an account, newest first (the collection's items). */
export async function liveKeyPackageUris(db: Executor, accountId: string): Promise<string[]> {
  const rows = await db
    .select({ uri: mlsKeyPackages.uri })
    .from(mlsKeyPackages)
    .where(and(eq(mlsKeyPackages.accountId, accountId), live))
    .orderBy(desc(mlsKeyPackages.createdAt), desc(mlsKeyPackages.id));
  return rows.map((row) => row.uri);
}

/** A package by its id (the last segment of its URI), with whether it may still be served. */
export async function keyPackageById(db: Executor, id: string): Promise<KeyPackageRow | undefined> {
  const [row] = await db.select().from(mlsKeyPackages).where(eq(mlsKeyPackages.id, id));
  return row;
}
