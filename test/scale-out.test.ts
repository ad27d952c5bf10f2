import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { newId } from "../src/shared/ids.js";
import { FAST_DELIVERY, sleep, waitUntil } from "./helpers/delivery.js";
import { type InboxSink, startInboxSink } from "./helpers/inbox-sink.js";
import { api, deleteRedisPrefix, dropDatabase, freePort, TEST_PG } from "./helpers/parley.js";
import { spawnParleyProcess, stopProcess, untilReady } from "./helpers/processes.js";
import { isChatUpdate, openStream, type StreamClient, streamingUrl, subscribe } from "./helpers/streaming.js";

/**
 * docs/scaling.md: ONE Parley instance run as two web processes and two worker processes (real child
 * processes) on one PostgreSQL database and one Redis prefix, with a loopback inbox sink as the
 * remote server. Both webs share PUBLIC_URL (web 1's origin, as behind a load balancer); the test
 * talks to web 2 on its own port. Events cross web processes through LISTEN/NOTIFY, and the two
 * workers deliver each outgoing activity once.
 */

const suffix = randomBytes(4).toString("hex");
const queuePrefix = `parley-test-scale-${suffix}`;
const databaseUrl = `${TEST_PG}/parley_test_scale_${suffix}`;
const adminToken = randomBytes(24).toString("hex");
const N = 20;

const children: ChildProcess[] = [];
let sink: InboxSink;
let dataDir: string;
let sql: postgres.Sql | undefined;
let web1: string;
let web2: string;
let workers: ChildProcess[] = [];
const clients: StreamClient[] = [];

/** One process of the instance (any ROLE) with the test's delivery timings; resolves once started. */
function startProcess(role: "web" | "worker", port: number, publicUrl: string): Promise<ChildProcess> {
  const child = spawnParleyProcess(
    { databaseUrl, url: publicUrl, adminToken },
    // DATA_DIR is shared by every process, as media storage must be.
    {
      queuePrefix,
      dataDir,
      env: { ROLE: role, HOST: "127.0.0.1", PORT: String(port), TEST_DELIVERY_TUNING: JSON.stringify(FAST_DELIVERY) },
    },
  );
  children.push(child);
  return untilReady(child, role);
}

async function createAccount(username: string) {
  const response = await api(web1, adminToken).post("/api/v1/admin/accounts", { username });
  if (response.status !== 201) throw new Error(`account ${username}: ${response.status} ${JSON.stringify(response.body)}`);
  return { id: response.body.account.id as string, token: response.body.access_token as string };
}

beforeAll(async () => {
  [sink, dataDir] = await Promise.all([startInboxSink(), mkdtemp(path.join(tmpdir(), "parley-scale-"))]);
  const [port1, port2] = await Promise.all([freePort(), freePort()]);
  web1 = `http://127.0.0.1:${port1}`;
  web2 = `http://127.0.0.1:${port2}`;
  // Web 1 first: it creates and migrates the database; the other three then start together.
  await startProcess("web", port1, web1);
  const started = await Promise.all([startProcess("web", port2, web1), startProcess("worker", 0, web1), startProcess("worker", 0, web1)]);
  workers = started.slice(1);
  sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
}, 40_000);

afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all(children.map(stopProcess));
  await sql?.end();
  await sink?.close();
  await dropDatabase(databaseUrl);
  await deleteRedisPrefix(queuePrefix);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 30_000);

it("streams a message sent through web 1 to a socket held by web 2", async () => {
  const [alice, bob] = await Promise.all([createAccount("alice"), createAccount("bob")]);
  const socket = await openStream(streamingUrl(web2, { access_token: bob.token }));
  clients.push(socket);
  expect((await subscribe(socket, "user:pleroma_chat")).result).toBe("success");

  const opened = await api(web1, alice.token).post(`/api/v1/pleroma/chats/by-account-id/${bob.id}`);
  expect(opened.status).toBe(200);
  const sent = await api(web1, alice.token).post(`/api/v1/pleroma/chats/${opened.body.id}/messages`, { content: "across web processes" });
  expect(sent.status).toBe(200);

  const frame = await socket.next(isChatUpdate("user:pleroma_chat"), 10_000, "chat_update on web 2");
  const chat = JSON.parse(frame.payload);
  expect(chat.account.id).toBe(alice.id);
  expect(chat.unread).toBe(1);
  expect(chat.last_message.content).toContain("across web processes");
  // Web 2 serves the same data, with ids on the shared PUBLIC_URL.
  const bobChats = await api(web2, bob.token).get("/api/v1/pleroma/chats");
  expect(bobChats.body.map((c: any) => c.id)).toEqual([chat.id]);
  const actor = await fetch(`${web2}/users/bob`, { headers: { accept: "application/activity+json" } });
  expect((await actor.json()).id).toBe(`${web1}/users/bob`);
}, 20_000);

it(`delivers ${N} messages to a remote account exactly once each while both workers run`, async () => {
  const carol = await createAccount("carol");
  sink.fallback = { status: 202, delayMs: 250 };
  const username = `r${suffix}`;
  const remoteId = newId();
  const uri = `${sink.url}/users/${username}`;
  await sql!`INSERT INTO accounts (id, username, domain, uri, url, inbox_url, shared_inbox_url, accepts_chat_messages, software, fetched_at)
    VALUES (${remoteId}, ${username}, ${new URL(sink.url).host}, ${uri}, ${uri}, ${sink.personalInbox(username)}, ${sink.sharedInbox}, true, 'pleroma', now())`;
  // Carol's sender view lives on web 2: the delivery states, written by the workers, reach it there.
  const socket = await openStream(streamingUrl(web2, { access_token: carol.token, stream: "user:pleroma_chat" }));
  clients.push(socket);

  const opened = await api(web1, carol.token).post(`/api/v1/pleroma/chats/by-account-id/${remoteId}`);
  expect(opened.status).toBe(200);
  // Sent through both webs, alternately and concurrently.
  const sent = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      api(i % 2 ? web2 : web1, carol.token).post(`/api/v1/pleroma/chats/${opened.body.id}/messages`, { content: `remote ${i}` }),
    ),
  );
  expect(sent.map((r) => r.status)).toEqual(Array(N).fill(200));

  // Which processes hold the host's slots (holder = `<process uuid>/<delivery id>`) while the sink
  // answers slowly: both workers take deliveries.
  const holders = new Set<string>();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      for (const row of await sql!`SELECT holder FROM host_slots`) holders.add(String(row.holder).split("/")[0]);
      await sleep(20);
    }
  })();
  await sink.waitFor(N, 20_000);
  await waitUntil(
    async () => (await sql!`SELECT count(*)::int AS n FROM deliveries WHERE status = 'delivered'`)[0].n === N,
    15_000,
    "every delivery row delivered",
  );
  sampling = false;
  await sampler;
  await sleep(500); // time for a duplicate, were there one
  const ids = sink.received.map((r) => r.activity?.id as string);
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  expect(counts.size).toBe(N);
  expect([...counts.values()].every((n) => n === 1)).toBe(true);
  expect(sink.received.every((r) => r.signature.verified && r.digestMatches)).toBe(true);
  expect(new Set(sink.received.map((r) => r.activity.object.content.replace(/<[^>]*>/g, "")))).toEqual(
    new Set(Array.from({ length: N }, (_, i) => `remote ${i}`)),
  );
  const rows = await sql!`SELECT status, attempts FROM deliveries`;
  expect(rows).toHaveLength(N);
  expect(rows.every((row) => row.status === "delivered" && row.attempts === 1)).toBe(true);
  expect(workers.every((worker) => worker.exitCode === null && worker.signalCode === null)).toBe(true);
  expect(holders.size).toBe(2);
  // DELIVERY_MAX_PER_HOST (8) holds across both processes: the slots are in PostgreSQL.
  expect(sink.maxInFlight).toBeLessThanOrEqual(8);
  // A delivery state change written by a worker reached the socket on web 2.
  await socket.next(
    (f) =>
      f.event === "parley:chat_message_update" &&
      f.stream?.[0] === "user:pleroma_chat" &&
      JSON.parse(f.payload).parley?.delivery === "delivered",
    10_000,
    "delivered state",
  );
}, 40_000);
