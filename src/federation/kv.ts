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

/**
 * No entry lives longer than a week (every per-host or per-key record gets a TTL, so none grows
 * without bound). Fedify stores fetched public keys without one, so every key ever
 * seen would stay forever; an expired key is simply fetched again.
 */
export const KV_MAX_TTL_MS = 7 * 24 * 3600_000;

/**
 * Fedify's key cache remembers a key it could not fetch (a null entry, or a `__fetchError` one)
 * for 10 minutes, and refuses every activity signed with it meanwhile: one timed-out fetch from a
 * peer whose server was busy for a moment held its messages back 10+ minutes (chaos run,
 * 2026-12-03). A minute is enough to spare a hanging key server a fetch per request.
 */
export const KEY_FAILURE_TTL_MS = 60_000;

function isKeyFailure(key: KvKey, value: unknown): boolean {
  return key[0] === "_fedify" && key[1] === "publicKey" && (value === null || key[2] === "__fetchError");
}

function expiryOf(key: KvKey, value: unknown, options?: KvStoreSetOptions): Date {
  const ttlMs = options?.ttl ? options.ttl.total("millisecond") : KV_MAX_TTL_MS;
  const maxMs = isKeyFailure(key, value) ? KEY_FAILURE_TTL_MS : KV_MAX_TTL_MS;
  return new Date(Date.now() + Math.min(ttlMs, maxMs));
}

/** JSON with object keys sorted, so equal values compare equal whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

export interface KvMemoryOptions {
  /** Entries under these key prefixes are also kept in this process's memory. */
  prefixes: KvKey[];
  /** How long a process may answer from memory (never past the entry's own expiry). */
  ttlMs: number;
  maxEntries: number;
}

/**
 * Fedify's KvStore on PostgreSQL: shared by every process, no Redis needed. Entries read on every
 * request (remote public keys) can be kept in memory for a while: Fedify re-fetches a key when a
 * signature fails with a cached one, and this process's own writes replace its copy.
 */
export class PostgresKvStore implements KvStore {
  private readonly memory = new Map<string, { value: unknown; until: number }>();

  constructor(
    private readonly db: Database,
    private readonly memoryOptions?: KvMemoryOptions,
  ) {}

  private memorable(key: KvKey): boolean {
    return this.memoryOptions?.prefixes.some((prefix) => prefix.every((part, i) => key[i] === part)) ?? false;
  }

  async get<T = unknown>(key: KvKey): Promise<T | undefined> {
    const encoded = encode(key);
    const memorable = this.memorable(key);
    if (memorable) {
      const kept = this.memory.get(encoded);
      if (kept && kept.until > Date.now()) return kept.value as T;
      this.memory.delete(encoded);
    }
    const [row] = await this.db
      .select({ value: fedifyKv.value, expiresAt: fedifyKv.expiresAt })
      .from(fedifyKv)
      .where(and(eq(fedifyKv.key, encoded), alive()));
    if (row && memorable) this.remember(encoded, row.value, row.expiresAt);
    return row?.value as T | undefined;
  }

  private remember(encoded: string, value: unknown, expiresAt: Date | null): void {
    const { ttlMs, maxEntries } = this.memoryOptions!;
    if (this.memory.size >= maxEntries) this.memory.delete(this.memory.keys().next().value!);
    this.memory.set(encoded, { value, until: Math.min(Date.now() + ttlMs, expiresAt?.getTime() ?? Infinity) });
  }

  async set(key: KvKey, value: unknown, options?: KvStoreSetOptions): Promise<void> {
    const expiresAt = expiryOf(key, value, options);
    this.memory.delete(encode(key));
    await this.db
      .insert(fedifyKv)
      .values({ key: encode(key), value: jsonb(value), expiresAt })
      .onConflictDoUpdate({ target: fedifyKv.key, set: { value: jsonb(value), expiresAt } });
  }

  async delete(key: KvKey): Promise<void> {
    this.memory.delete(encode(key));
    await this.db.delete(fedifyKv).where(eq(fedifyKv.key, encode(key)));
  }

  async cas(key: KvKey, expectedValue: unknown, newValue: unknown, options?: KvStoreSetOptions): Promise<boolean> {
    this.memory.delete(encode(key));
    const expiresAt = expiryOf(key, newValue, options);
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
      await tx
        .update(fedifyKv)
        .set({ value: jsonb(newValue), expiresAt })
        .where(eq(fedifyKv.key, encode(key)));
      return true;
    });
  }

  async *list(prefix?: KvKey): AsyncIterable<KvStoreListEntry> {
    // Keys are JSON arrays: a prefix is the array's text without its closing bracket.
    const pattern =
      prefix && prefix.length > 0
        ? `${encode(prefix)
            .slice(0, -1)
            .replace(/[\\%_]/g, "\\$&")}%`
        : "%";
    const rows = await this.db
      .select()
      .from(fedifyKv)
      .where(and(like(fedifyKv.key, pattern), alive()));
    for (const row of rows) yield { key: JSON.parse(row.key) as KvKey, value: row.value };
  }
}
