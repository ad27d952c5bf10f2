import type { KvKey, KvStore, KvStoreListEntry, KvStoreSetOptions } from "@fedify/fedify";
import { and, eq, gt, isNull, like, or, sql } from "drizzle-orm";
import type { Database } from "../db/database.js";
import { fedifyKv } from "../db/schema/index.js";

const encode = (key: KvKey) => JSON.stringify(key);
const alive = () => or(isNull(fedifyKv.expiresAt), gt(fedifyKv.expiresAt, sql`now()`));

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
      .values({ key: encode(key), value: value as object, expiresAt })
      .onConflictDoUpdate({ target: fedifyKv.key, set: { value: value as object, expiresAt } });
  }

  async delete(key: KvKey): Promise<void> {
    await this.db.delete(fedifyKv).where(eq(fedifyKv.key, encode(key)));
  }

  async cas(key: KvKey, expectedValue: unknown, newValue: unknown, options?: KvStoreSetOptions): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx
        .select({ value: fedifyKv.value })
        .from(fedifyKv)
        .where(and(eq(fedifyKv.key, encode(key)), alive()))
        .for("update");
      if (JSON.stringify(row?.value) !== JSON.stringify(expectedValue)) return false;
      const expiresAt = options?.ttl ? new Date(Date.now() + options.ttl.total("millisecond")) : null;
      await tx
        .insert(fedifyKv)
        .values({ key: encode(key), value: newValue as object, expiresAt })
        .onConflictDoUpdate({ target: fedifyKv.key, set: { value: newValue as object, expiresAt } });
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
