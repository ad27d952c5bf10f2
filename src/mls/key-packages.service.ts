import { and, count, eq, inArray, isNull, sql } from "drizzle-orm";
import type { AccountRow } from "../accounts/account.view.js";
import type { Database, Executor } from "../db/database.js";
import { mlsKeyPackages } from "../db/schema/index.js";
import { DomainError } from "../shared/errors.js";
import { newId } from "../shared/ids.js";
import type { CheckedKeyPackage } from "./key-package.js";
import { type KeyPackageRow, live } from "./key-packages.view.js";
import { MLS_CONTEXT_URL } from "./vocabulary.js";

/**
 * An actor's published KeyPackages (the draft's `keyPackages` collection). Parley keeps at most
 * MAX_LIVE_KEY_PACKAGES live per actor; a package leaves the collection when its owner deletes or
 * removes it, or when a Welcome delivered to its owner names it (a package is single-use, though
 * the MLS library would let it be used twice). A GET by id never consumes anything.
 */

export const MAX_LIVE_KEY_PACKAGES = 20;
export const AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public";
export const MLS_JSON_CONTEXT = ["https://www.w3.org/ns/activitystreams", MLS_CONTEXT_URL];

export const keyPackageUri = (publicUrl: string, id: string) => `${publicUrl}/key-packages/${id}`;
export const keyPackagesCollectionUri = (actorUri: string) => `${actorUri}/key-packages`;

/** The `generator` a client named (the app, in practice the device): kept as an id, an object cut to id/type/name. */
function generatorOf(value: unknown): { id: string; type?: string; name?: string } | undefined {
  if (typeof value === "string") return { id: value };
  if (!value || typeof value !== "object") return undefined;
  const { id, type, name } = value as Record<string, unknown>;
  if (typeof id !== "string") return undefined;
  return { id, ...(typeof type === "string" ? { type } : {}), ...(typeof name === "string" ? { name: name.slice(0, 200) } : {}) };
}

/**
 * Publishes a checked KeyPackage of `owner` (the object as the client sent it; the checks of
 * src/mls/checks.ts passed). Parley assigns the ids; content and ciphersuite are kept as sent.
 */
export async function publishKeyPackage(
  db: Database,
  publicUrl: string,
  owner: AccountRow,
  object: Record<string, unknown>,
  checked: CheckedKeyPackage,
): Promise<{ activity: Record<string, unknown>; row: KeyPackageRow }> {
  return db.transaction(async (tx) => {
    // One owner's publications one at a time, so that the cap holds under concurrent requests.
    await tx.execute(sqlLockOwner(owner.id));
    const [{ n }] = await tx
      .select({ n: count() })
      .from(mlsKeyPackages)
      .where(and(eq(mlsKeyPackages.accountId, owner.id), live));
    if (n >= MAX_LIVE_KEY_PACKAGES) {
      throw new DomainError("unprocessable", "invalid_mls_object", { reason: "too_many_key_packages", limit: MAX_LIVE_KEY_PACKAGES });
    }
    const [same] = await tx
      .select({ uri: mlsKeyPackages.uri })
      .from(mlsKeyPackages)
      .where(and(eq(mlsKeyPackages.accountId, owner.id), eq(mlsKeyPackages.ref, checked.ref), live));
    if (same) throw new DomainError("conflict", "invalid_mls_object", { reason: "duplicate_key_package", existing: same.uri });

    const id = newId();
    const uri = keyPackageUri(publicUrl, id);
    const generator = generatorOf(object.generator);
    const stored = {
      id: uri,
      type: "KeyPackage",
      attributedTo: owner.uri,
      to: [AS_PUBLIC],
      mediaType: "message/mls",
      encoding: "base64",
      content: object.content,
      ciphersuite: object.ciphersuite,
      ...(generator ? { generator } : {}),
      published: new Date().toISOString(),
    };
    const [row] = await tx
      .insert(mlsKeyPackages)
      .values({
        id,
        accountId: owner.id,
        uri,
        activityUri: `${uri}/create`,
        object: stored,
        ciphersuite: String(object.ciphersuite),
        ref: checked.ref,
        generatorId: generator?.id ?? null,
      })
      .returning();
    const activity = {
      "@context": MLS_JSON_CONTEXT,
      id: row.activityUri,
      type: "Create",
      actor: owner.uri,
      to: [AS_PUBLIC],
      published: stored.published,
      object: stored,
    };
    return { activity, row };
  });
}

function sqlLockOwner(accountId: string) {
  return sql`SELECT pg_advisory_xact_lock(hashtext(${`mls-key-packages:${accountId}`}))`;
}

/** Delete or Remove by the owner: the package leaves the collection, and a GET of it answers 410. */
export async function removeKeyPackage(db: Executor, ownerId: string, uri: string): Promise<boolean> {
  const removed = await db
    .update(mlsKeyPackages)
    .set({ removedAt: new Date() })
    .where(and(eq(mlsKeyPackages.uri, uri), eq(mlsKeyPackages.accountId, ownerId), isNull(mlsKeyPackages.removedAt)))
    .returning({ id: mlsKeyPackages.id });
  return removed.length > 0;
}

/** A Welcome delivered to `ownerId` named these KeyPackageRefs: those packages are used up. */
export async function consumeKeyPackages(db: Executor, ownerId: string, refs: string[]): Promise<number> {
  if (refs.length === 0) return 0;
  const consumed = await db
    .update(mlsKeyPackages)
    .set({ consumedAt: new Date() })
    .where(and(eq(mlsKeyPackages.accountId, ownerId), inArray(mlsKeyPackages.ref, refs), live))
    .returning({ id: mlsKeyPackages.id });
  return consumed.length;
}
