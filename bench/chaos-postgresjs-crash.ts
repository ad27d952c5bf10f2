/**
 * Checks that postgres.js survives PostgreSQL dropping every connection while transactions are in
 * flight (docs/reliability-chaos-notes.md). Unpatched 3.4.9 dies on it: `TypeError: Cannot read
 * properties of null (reading 'write') at Immediate.nextWrite`, or an unhandled rejection from its
 * type fetch; or a transaction waits forever (upstream porsager/postgres#1154, #1208).
 * patches/postgres+3.4.9.patch fixes these; test/postgres-connection-loss.test.ts runs this file.
 *
 *   npx tsx bench/chaos-postgresjs-crash.ts [rounds=40] [cut|fatal]
 *
 * `cut`: connections are destroyed, new ones pass after 300 ms; `fatal`: for 300 ms new ones get
 * PostgreSQL's FATAL 53300 "too many clients" after their startup message. Exit 3 = crashed,
 * 4 = a query never settled, 0 = survived every round. Uses the database `postgres` (read-only).
 */
import { connect, createServer, type Socket } from "node:net";
import postgres from "postgres";

const rounds = Number(process.argv[2] ?? 40);
const mode = process.argv[3] === "fatal" ? "fatal" : "cut";
let round = 0;
// Node turns an unhandled rejection into an uncaught exception too.
process.on("uncaughtException", (error) => {
  console.log(`crashed in round ${round} of ${rounds} (${mode}): ${error.message}\n${error.stack?.split("\n").slice(0, 2).join("\n")}`);
  process.exit(3);
});

function tooManyClients(): Buffer {
  const fields = Buffer.from("SFATAL\0VFATAL\0C53300\0Msorry, too many clients already\0\0");
  const head = Buffer.alloc(5);
  head.write("E", 0);
  head.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([head, fields]);
}

let refusing = false;
const sockets = new Set<Socket>();
const server = createServer((client) => {
  sockets.add(client);
  client.on("error", () => {});
  if (refusing) {
    if (mode === "fatal") client.once("data", () => client.end(tooManyClients()));
    else client.destroy();
    return;
  }
  const upstream = connect(5432, "127.0.0.1");
  sockets.add(upstream);
  const drop = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("close", drop);
  upstream.on("error", drop).on("close", drop);
  client.pipe(upstream);
  upstream.pipe(client);
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
const port = (server.address() as { port: number }).port;
const sql = postgres(`postgres://postgres@127.0.0.1:${port}/postgres`, { max: 10, onnotice: () => {}, connect_timeout: 2 });

let ok = 0;
let failed = 0;
let stop = false;
const waitingOn = new Map<number, string>();
// Half the loops run small transactions (as drizzle's db.transaction does), half single queries.
const loops = Array.from({ length: 40 }, async (_, i) => {
  while (!stop) {
    waitingOn.set(i, i % 2 ? "transaction" : "query");
    try {
      if (i % 2)
        await sql.begin(async (tx) => {
          await tx`select 1`;
          await tx`select pg_sleep(0.001)`;
          await tx`select 2`;
        });
      else await sql`select 1`;
      ok++;
    } catch {
      failed++;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    waitingOn.delete(i);
  }
});
for (round = 1; round <= rounds; round++) {
  await new Promise((resolve) => setTimeout(resolve, 200));
  refusing = true;
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await new Promise((resolve) => setTimeout(resolve, 300));
  refusing = false;
}
stop = true;
// A query that never settles is a bug too: after the last cut, each loop must finish within 30 s
// (postgres.js waits at most 20 s before reconnecting).
const settled = await Promise.race([
  Promise.all(loops).then(() => true),
  new Promise<false>((resolve) => setTimeout(() => resolve(false), 30_000)),
]);
if (!settled) {
  console.log(
    `hung after ${rounds} rounds (${mode}): ${waitingOn.size} loops wait forever (${[...new Set(waitingOn.values())].join(", ")})`,
  );
  process.exit(4);
}
console.log(`survived ${rounds} rounds (${mode}): ${ok} queries ok, ${failed} failed`);
process.exit(0);
