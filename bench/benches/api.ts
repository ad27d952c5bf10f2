import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { listChatPage, listMessages } from "../../src/chats/chat.view.js";
import type { Executor } from "../../src/db/database.js";
import * as schema from "../../src/db/schema/index.js";
import { startTestParley } from "../../test/helpers/parley.js";
import type { Bench, BenchContext, BenchResult } from "../types.js";

/**
 * api (goals in docs/benchmarks.md; issue 6 §4): p50/p99 of the chat list (v2 page, v1 all), the first and a deep
 * page of messages, with 100 local accounts, 10k chats for one account and 1M messages, then the
 * same at 10k messages. Seeded by bulk SQL (ids are 26-char letter-form ULIDs built in SQL from a
 * timestamp and a counter); requests come from a separate Node process, bounded in number.
 */

const LOCALS = 100;
const CHATS = 10_000;
const LARGE = Number(process.env.BENCH_API_MESSAGES ?? 1_000_000);
const SMALL = 10_000;
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

/** SQL for `chars` Crockford base-32 digits of the bigint expression `v`. */
function base32Sql(v: string, chars: number): string {
  const parts: string[] = [];
  for (let k = chars - 1; k >= 0; k--) parts.push(`substr('${ALPHABET}', ((${v} >> ${5 * k}) & 31)::int + 1, 1)`);
  return parts.join(" || ");
}

interface Seeded {
  token: string;
  ownerId: string;
  bigChat: string;
  deepMaxId: string;
  bigChatMessages: number;
  seconds: number;
}

/** Seeds `total` messages: a big chat L0↔L1 gets `big`, the rest go round-robin to L0's other chats. */
export async function seed(sql: postgres.Sql, publicUrl: string, total: number, log: (m: string) => void): Promise<Seeded> {
  const started = performance.now();
  const big = total >= 100_000 ? Math.round(total / 5) : Math.round(total / 2);
  const t0 = Date.now() - total - 1_000_000;
  // In today's letter form (src/shared/ids.ts): a ULID's first character 0..7 written a..h.
  await sql.unsafe(`CREATE OR REPLACE FUNCTION bench_ulid(ms bigint, n bigint) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT translate(left(u, 1), '01234567', 'abcdefgh') || substr(u, 2)
    FROM (SELECT ${base32Sql("ms", 10)} || '000' || ${base32Sql("n", 13)} AS u) AS plain $$`);
  // Accounts: L0..L99 local; one remote counterpart per remaining chat of L0.
  await sql.unsafe(`INSERT INTO accounts (id, username, domain, uri, url, inbox_url)
    SELECT bench_ulid(${t0}, k), 'u' || k, NULL, '${publicUrl}/users/u' || k, '${publicUrl}/users/u' || k, '${publicUrl}/users/u' || k || '/inbox'
    FROM generate_series(0, ${LOCALS - 1}) k`);
  const remotes = CHATS - (LOCALS - 1);
  await sql.unsafe(`INSERT INTO accounts (id, username, domain, uri, inbox_url, accepts_chat_messages, software, fetched_at)
    SELECT bench_ulid(${t0} + 1, k), 'r' || k, 'r' || (k % 50) || '.example', 'https://r' || (k % 50) || '.example/users/r' || k,
      'https://r' || (k % 50) || '.example/users/r' || k || '/inbox', true, 'pleroma', now()
    FROM generate_series(0, ${remotes - 1}) k`);
  const token = randomBytes(24).toString("hex");
  const ownerId = (await sql`SELECT id FROM accounts WHERE username = 'u0' AND domain IS NULL`)[0].id as string;
  await sql`INSERT INTO access_tokens (id, account_id, token_hash) VALUES (${(await sql.unsafe(`SELECT bench_ulid(${t0} + 2, 0) AS id`))[0].id}, ${ownerId}, ${createHash("sha256").update(token).digest("hex")})`;
  // Chats of L0: idx 0 = L1 (the big chat), 1..98 = L2..L99, then the remote ones; locals have the mirror chat.
  await sql.unsafe(`CREATE TABLE bench_chats AS
    SELECT idx, bench_ulid(${t0} + 3, idx) AS owner_chat,
      CASE WHEN idx < ${LOCALS - 1} THEN bench_ulid(${t0} + 4, idx) END AS peer_chat,
      CASE WHEN idx < ${LOCALS - 1} THEN bench_ulid(${t0}, idx + 1) ELSE bench_ulid(${t0} + 1, idx - ${LOCALS - 1}) END AS peer,
      idx >= ${LOCALS - 1} AS remote
    FROM generate_series(0, ${CHATS - 1}) idx`);
  await sql.unsafe(`CREATE UNIQUE INDEX ON bench_chats (idx)`);
  await sql.unsafe(`INSERT INTO chats (id, account_id, recipient_id, created_at, updated_at)
    SELECT owner_chat, '${ownerId}', peer, to_timestamp((${t0} + idx) / 1000.0), to_timestamp((${t0} + idx) / 1000.0) FROM bench_chats
    UNION ALL
    SELECT peer_chat, peer, '${ownerId}', to_timestamp((${t0} + idx) / 1000.0), to_timestamp((${t0} + idx) / 1000.0) FROM bench_chats WHERE NOT remote`);
  log(`api seed: accounts and chats in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  // Messages, then both participants' references (one for a remote counterpart).
  const rows = `FROM generate_series(1, ${total}) i
    JOIN bench_chats c ON c.idx = CASE WHEN i <= ${big} THEN 0 ELSE 1 + (i - ${big} - 1) % ${CHATS - 1} END`;
  await sql.unsafe(`INSERT INTO messages (id, uri, author_id, recipient_id, content, local, published_at, created_at)
    SELECT bench_ulid(${t0 + 10_000} + i, i),
      CASE WHEN c.remote AND i % 2 = 1 THEN 'https://remote.example/objects/' || i ELSE '${publicUrl}/objects/' || bench_ulid(${t0 + 10_000} + i, i) END,
      CASE WHEN i % 2 = 0 THEN '${ownerId}' ELSE c.peer END,
      CASE WHEN i % 2 = 0 THEN c.peer ELSE '${ownerId}' END,
      'message number ' || i, NOT (c.remote AND i % 2 = 1),
      to_timestamp((${t0 + 10_000} + i) / 1000.0), to_timestamp((${t0 + 10_000} + i) / 1000.0)
    ${rows}`);
  log(`api seed: ${total} messages in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  await sql.unsafe(`INSERT INTO message_refs (id, chat_id, message_id, unread, created_at)
    SELECT bench_ulid(${t0 + 10_000} + i, 2 * i), c.owner_chat, bench_ulid(${t0 + 10_000} + i, i), false, to_timestamp((${t0 + 10_000} + i) / 1000.0) ${rows}
    UNION ALL
    SELECT bench_ulid(${t0 + 10_000} + i, 2 * i + 1), c.peer_chat, bench_ulid(${t0 + 10_000} + i, i), false, to_timestamp((${t0 + 10_000} + i) / 1000.0) ${rows} WHERE NOT c.remote`);
  log(`api seed: references in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  await sql.unsafe(`UPDATE chats SET last_message_ref_id = last.id, updated_at = last.at
    FROM (SELECT DISTINCT ON (chat_id) chat_id, id, created_at AS at FROM message_refs ORDER BY chat_id, id DESC) last
    WHERE chats.id = last.chat_id`);
  await sql.unsafe(`DROP TABLE bench_chats`);
  await sql.unsafe(`VACUUM ANALYZE`);
  // Write the bulk load's dirty pages back now, so no checkpoint does it during the measurement.
  await sql.unsafe(`CHECKPOINT`);
  const bigChat = (await sql.unsafe(`SELECT bench_ulid(${t0} + 3, 0) AS id`))[0].id as string;
  const [deep] = await sql`SELECT id FROM message_refs WHERE chat_id = ${bigChat} ORDER BY id ASC OFFSET 40 LIMIT 1`;
  const seconds = (performance.now() - started) / 1000;
  log(`api seed: ${total} messages (${big} in one chat) seeded in ${seconds.toFixed(1)} s`);
  return { token, ownerId, bigChat, deepMaxId: deep.id as string, bigChatMessages: big, seconds };
}

interface LoadResult {
  sequential: { p50: number; p99: number; n: number };
  concurrent: { p50: number; p99: number; n: number; concurrency: number; rps: number };
  bytes: number;
  status: number;
}

/** The load generator: a separate Node process (global fetch), bounded in requests. */
const LOADGEN = `
const { url, token, n, concurrency } = JSON.parse(process.env.BENCH_LOAD);
const headers = { authorization: "Bearer " + token };
const one = async () => { const t = performance.now(); const r = await fetch(url, { headers }); const b = await r.arrayBuffer(); return [performance.now() - t, b.byteLength, r.status]; };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };
let bytes = 0, status = 0;
for (let i = 0; i < Math.min(5, n); i++) [, bytes, status] = await one();
const seq = [];
for (let i = 0; i < n; i++) seq.push((await one())[0]);
const con = []; let next = 0; const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, async () => { while (next++ < n) con.push((await one())[0]); }));
const wall = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ sequential: { p50: pct(seq, 50), p99: pct(seq, 99), n }, concurrent: { p50: pct(con, 50), p99: pct(con, 99), n, concurrency, rps: n / wall }, bytes, status }));
`;

function load(url: string, token: string, n: number, concurrency: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--input-type=module", "-e", LOADGEN],
      { env: { ...process.env, BENCH_LOAD: JSON.stringify({ url, token, n, concurrency }) }, maxBuffer: 1 << 20, timeout: 300_000 },
      (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout) as LoadResult)),
    );
  });
}

interface Query {
  name: string;
  path: string;
  n: number;
  /** The query the route runs, captured from drizzle and EXPLAINed. */
  explain?: (db: Executor) => Promise<unknown>;
}

function queries(s: Seeded): Query[] {
  return [
    {
      name: "GET /api/v2/pleroma/chats",
      path: "/api/v2/pleroma/chats",
      n: 200,
      explain: (db) => listChatPage(db, s.ownerId, { withMuted: false, limit: 20 }, "http://x"),
    },
    {
      name: "GET /api/v1/pleroma/chats (all)",
      path: "/api/v1/pleroma/chats",
      n: 20,
      explain: (db) => listChatPage(db, s.ownerId, { withMuted: false }, "http://x"),
    },
    {
      name: "messages first page",
      path: `/api/v1/pleroma/chats/${s.bigChat}/messages`,
      n: 200,
      explain: async (db) => listMessages(db, await chatRow(db, s.bigChat), { limit: 20 }, "http://x"),
    },
    {
      name: "messages deep page",
      path: `/api/v1/pleroma/chats/${s.bigChat}/messages?max_id=${s.deepMaxId}`,
      n: 200,
      explain: async (db) => listMessages(db, await chatRow(db, s.bigChat), { limit: 20, maxId: s.deepMaxId }, "http://x"),
    },
  ];
}

async function chatRow(db: Executor, id: string) {
  const row = await db.query.chats.findFirst({ where: (c, { eq }) => eq(c.id, id) });
  if (!row) throw new Error(`no chat ${id}`);
  return row;
}

/** Runs `run` against a drizzle instance that records its last query, then EXPLAINs that query. */
async function explain(databaseUrl: string, run: (db: Executor) => Promise<unknown>): Promise<string> {
  const client = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  let captured: { query: string; params: unknown[] } | undefined;
  try {
    const db = drizzle(client, { schema, logger: { logQuery: (query, params) => (captured = { query, params }) } }) as unknown as Executor;
    await run(db);
    if (!captured) return "(no query)";
    const plan = await client.unsafe(`EXPLAIN (ANALYZE, BUFFERS) ${captured.query}`, captured.params as postgres.ParameterOrJSON<never>[]);
    return plan.map((r) => r["QUERY PLAN"] as string).join("\n");
  } finally {
    await client.end();
  }
}

/** The lines of a plan that say how rows are reached, plus the timing. */
function summarise(plan: string): string {
  return plan
    .split("\n")
    .filter((l) => /Scan|Execution Time|Sort Method|Hash Join|Nested Loop|Limit/.test(l))
    .slice(0, 24)
    .join("\n");
}

async function measure(ctx: BenchContext, total: number) {
  const instance = await startTestParley({ queue: ctx.queue });
  const sql = postgres(instance.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const seeded = await seed(sql, instance.url.replace(/\/$/, ""), total, ctx.log);
    const figures = new Map<string, LoadResult & { plan?: string }>();
    for (const q of queries(seeded)) {
      const result = await load(instance.url.replace(/\/$/, "") + q.path, seeded.token, q.n, 4);
      if (result.status !== 200) throw new Error(`${q.name}: HTTP ${result.status}`);
      const plan = q.explain && total >= 100_000 ? summarise(await explain(instance.databaseUrl, q.explain)) : undefined;
      if (plan) ctx.log(`EXPLAIN ${q.name} @${total}:\n${plan}`);
      ctx.log(
        `${q.name} @${total}: seq p50 ${result.sequential.p50.toFixed(2)} ms p99 ${result.sequential.p99.toFixed(2)} ms; ` +
          `c=4 p50 ${result.concurrent.p50.toFixed(2)} p99 ${result.concurrent.p99.toFixed(2)} ms ${result.concurrent.rps.toFixed(0)} req/s; ${result.bytes} bytes`,
      );
      figures.set(q.name, { ...result, plan });
    }
    return { figures, seeded };
  } finally {
    await sql.end();
    await instance.close();
  }
}

export const bench: Bench = {
  name: "api",
  async run(ctx) {
    const large = await measure(ctx, LARGE);
    const small = await measure(ctx, SMALL);
    const results: BenchResult[] = [{ metric: `api seed of ${LARGE} messages`, value: Number(large.seeded.seconds.toFixed(1)), unit: "s" }];
    for (const [name, big] of large.figures) {
      const little = small.figures.get(name)!;
      const goal = "p99 ≤ 20 ms";
      results.push(
        { metric: `${name} p50 @${LARGE} msgs`, value: round(big.sequential.p50), unit: "ms" },
        { metric: `${name} p99 @${LARGE} msgs`, value: round(big.sequential.p99), unit: "ms", goal },
        { metric: `${name} p99 c=4 @${LARGE} msgs`, value: round(big.concurrent.p99), unit: "ms", goal },
        { metric: `${name} p99 @${SMALL} msgs`, value: round(little.sequential.p99), unit: "ms", goal },
        {
          metric: `${name} p99 ratio ${LARGE}/${SMALL} msgs`,
          value: round(big.sequential.p99 / little.sequential.p99),
          unit: "×",
          baseline: { name: `p99 @${SMALL} msgs (ms)`, value: round(little.sequential.p99) },
          goal: "≤ 1.5",
        },
        { metric: `${name} response size @${LARGE} msgs`, value: big.bytes, unit: "bytes" },
      );
    }
    return results;
  },
};

const round = (x: number) => Math.round(x * 100) / 100;
