import { fileURLToPath } from "node:url";
import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import * as schema from "./schema/index.js";

export type Database = PostgresJsDatabase<typeof schema> & { $client: postgres.Sql };
export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];
/** Anything that can run a query: the pool or an open transaction. */
export type Executor = Database | Transaction;

const migrationsFolder = fileURLToPath(new URL("../../drizzle", import.meta.url));
/** Arbitrary constant shared by every Parley process: serialises migrations. */
const MIGRATION_LOCK_KEY = 72_017_334;

/**
 * The client drizzle gets: every query a named prepared statement, cached per connection. drizzle
 * asks postgres.js for unnamed ones, which cost a Parse + Describe round trip before each Bind +
 * Execute and a parse and plan in PostgreSQL every time (half of PostgreSQL's CPU in the delivery
 * bench). Parley's query shapes are few and fixed (bulk inserts pass rows as one JSON parameter),
 * so the per-connection statement cache stays small. Transactions and savepoints get the same.
 */
function preparingClient(client: postgres.Sql): postgres.Sql {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === "unsafe") {
        return (query: string, parameters?: unknown[], options?: postgres.UnsafeQueryOptions) =>
          target.unsafe(query, parameters as postgres.ParameterOrJSON<never>[], options && { ...options, prepare: true });
      }
      if (property === "begin" || property === "savepoint") {
        return (...args: unknown[]) => {
          const work = args.pop() as (tx: postgres.Sql) => unknown;
          const start = Reflect.get(target, property, receiver) as (...a: unknown[]) => unknown;
          return start(...args, (tx: postgres.Sql) => work(preparingClient(tx)));
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

/**
 * A query of the hot paths built once per pool: drizzle builds a query's SQL anew on every call,
 * the largest CPU cost of an API request after the socket writes. `build` makes a drizzle prepared
 * query (with `sql.placeholder`s) on the pool it is given.
 */
export function builtOnce<Q>(build: (db: Database) => Q): (db: Database) => Q {
  const built = new WeakMap<Database, Q>();
  return (db) => {
    let query = built.get(db);
    if (!query) {
      query = build(db);
      built.set(db, query);
    }
    return query;
  };
}

/** Whether an executor is the pool itself (not an open transaction). */
export function isPool(db: Executor): db is Database {
  return "$client" in db;
}

export function connect(databaseUrl: string, options: { max?: number } = {}): Database {
  const client = postgres(databaseUrl, {
    max: options.max ?? 10,
    onnotice: () => {},
    // No JIT: Parley's queries are short index lookups, where a JIT compile (PostgreSQL's default
    // past a plan cost of 100,000, e.g. the v1 chat list of an account with ~10k chats) costs more than it saves.
    connection: { application_name: "parley", jit: "off" },
  });
  return drizzle(preparingClient(client), { schema }) as Database;
}

/** Creates the database named in the URL when it does not exist yet. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!name) throw new Error("DATABASE_URL names no database");
  // The usual case first: the database exists. Managed PostgreSQL often allows no other one.
  const target = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await target`SELECT 1`;
    return;
  } catch (error) {
    // 3D000: invalid_catalog_name, "database … does not exist".
    if ((error as { code?: string }).code !== "3D000") throw error;
  } finally {
    await target.end();
  }
  url.pathname = "/postgres";
  const admin = postgres(url.href, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const [row] = await admin`SELECT 1 AS found FROM pg_database WHERE datname = ${name}`;
    if (row) return;
    await admin.unsafe(`CREATE DATABASE "${name.replaceAll('"', '""')}"`).catch((error: { code?: string }) => {
      // 42P04: another process created it between our check and our CREATE (23505 on the catalog).
      if (error.code !== "42P04" && error.code !== "23505") throw error;
    });
  } finally {
    await admin.end();
  }
}

/** Applies pending drizzle-kit migrations under an advisory lock, so concurrent starts do not collide. */
export async function migrateDatabase(databaseUrl: string): Promise<void> {
  const client = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await client`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    await migrate(drizzle(client), { migrationsFolder });
    await client`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
  } finally {
    await client.end();
  }
}

/** The PostgreSQL error code of a failed query (drizzle wraps the driver's error in `cause`). */
export function pgErrorCode(error: unknown): string | undefined {
  const e = error as { code?: string; cause?: { code?: string } };
  return e?.code ?? e?.cause?.code;
}
