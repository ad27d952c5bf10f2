import type { KvKey, KvStore, KvStoreListEntry, KvStoreSetOptions } from "@fedify/fedify";
import { and, eq, gt, isNull, like, or, sql } from "drizzle-orm";
import type { Database } from "../db/database.js";
import { fedifyKv } from "../db/schema/index.js";

const encode = (key: KvKey) => JSON.stringify(key);
const alive = () => or(isNull(fedifyKv.expiresAt), gt(fedifyKv.expiresAt, sql`now()`));
/**
 * A value as jsonb. JSON `null` is a value Fedify stores (its key cache remembers an unavailable
 * key as null); passed as is, drizzle would write SQL NULL into the NOT NULL column.
 */
const jsonb = (value: unknown) => (value === null ? sql`'null'::jsonb` : (value as object));

/** JSON with object keys sorted, so equal values compare equal whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Fedify's KvStore on PostgreSQL: shared by every process, no Redis needed. */
export class PostgresKvStore implements KvStore {
  constructor(private readonly db: Database) {}

  async get<T = unknown>(key: KvKey): Promise<T | undefined> {
    const [row] = await this.db
      .select({ value: fedifyKv.value })
      .from(fedifyKv)
      .where(and(eq(fedifyKv.key, encode(key)), alive()));
    return row?.value as T | undefined;
  }

  async set(key: KvKey, value: unknown, options?: KvStoreSetOptions): Promise<void> {
    const expiresAt = options?.ttl ? new Date(Date.now() + options.ttl.total("millisecond")) : null;
    await this.db
      .insert(fedifyKv)
      .values({ key: encode(key), value: jsonb(value), expiresAt })
      .onConflictDoUpdate({ target: fedifyKv.key, set: { value: jsonb(value), expiresAt } });
  }

  async delete(key: KvKey): Promise<void> {
    await this.db.delete(fedifyKv).where(eq(fedifyKv.key, encode(key)));
  }

  async cas(key: KvKey, expectedValue: unknown, newValue: unknown, options?: KvStoreSetOptions): Promise<boolean> {
    const expiresAt = options?.ttl ? new Date(Date.now() + options.ttl.total("millisecond")) : null;
    if (expectedValue === undefined) {
      // Nothing to lock when there is no row: insert, or take over an expired row, or lose.
      const won = await this.db
        .insert(fedifyKv)
        .values({ key: encode(key), value: jsonb(newValue), expiresAt })
        .onConflictDoUpdate({
          target: fedifyKv.key,
          set: { value: jsonb(newValue), expiresAt },
          setWhere: sql`${fedifyKv.expiresAt} IS NOT NULL AND ${fedifyKv.expiresAt} <= now()`,
        })
        .returning({ key: fedifyKv.key });
      return won.length === 1;
    }
    return this.db.transaction(async (tx) => {
      const [row] = await tx
        .select({ value: fedifyKv.value })
        .from(fedifyKv)
        .where(and(eq(fedifyKv.key, encode(key)), alive()))
        .for("update");
      // jsonb keeps its own key order: compare canonical forms.
      if (!row || canonical(row.value) !== canonical(expectedValue)) return false;
      await tx.update(fedifyKv).set({ value: jsonb(newValue), expiresAt }).where(eq(fedifyKv.key, encode(key)));
      return true;
    });
  }

  async *list(prefix?: KvKey): AsyncIterable<KvStoreListEntry> {
    // Keys are JSON arrays: a prefix is the array's text without its closing bracket.
    const pattern = prefix && prefix.length > 0 ? `${encode(prefix).slice(0, -1).replace(/[\\%_]/g, "\\$&")}%` : "%";
    const rows = await this.db
      .select()
      .from(fedifyKv)
      .where(and(like(fedifyKv.key, pattern), alive()));
    for (const row of rows) yield { key: JSON.parse(row.key) as KvKey, value: row.value };
  }
}
