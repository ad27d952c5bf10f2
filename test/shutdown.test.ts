import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { chatTo, deliveriesOf, FAST_DELIVERY, insertRemoteAccount, sleep } from "./helpers/delivery.js";
import { type InboxSink, startInboxSink } from "./helpers/inbox-sink.js";
import { createAccount, deleteRedisPrefix, startTestParley, type TestParley } from "./helpers/parley.js";
import { spawnWorkerProcess } from "./helpers/processes.js";

/**
 * SIGTERM on a worker process (ROLE=worker, the production signal handling of src/shutdown.ts):
 * it stops taking jobs, lets the POSTs in flight finish within SHUTDOWN_TIMEOUT_MS, closes its
 * pools and exits 0. Nothing is lost or sent twice; jobs it never took wait for the next worker.
 */

/** Fast retries, but a request timeout longer than the slow peer's 2 s answers. */
const PATIENT = { ...FAST_DELIVERY, requestTimeoutMs: 15_000 };
const queuePrefix = `parley-test-stop-${randomBytes(4).toString("hex")}`;
let web: TestParley;
let worker: TestParley | undefined;
let sink: InboxSink;
let child: ChildProcess | undefined;
let dataDir: string;

beforeAll(async () => {
  [web, sink, dataDir] = await Promise.all([
    startTestParley({ queue: "redis", role: "web", queuePrefix }),
    // A slow peer: every POST is answered after 2 s.
    startInboxSink({ fallback: { status: 202, delayMs: 2_000 } }),
    mkdtemp(path.join(tmpdir(), "parley-worker-")),
  ]);
});
afterAll(async () => {
  child?.kill("SIGKILL");
  await worker?.close();
  await Promise.all([web?.close(), sink?.close()]);
  await deleteRedisPrefix(queuePrefix);
  await rm(dataDir, { recursive: true, force: true });
});

const startWorker = (env: Record<string, string>) =>
  spawnWorkerProcess(web, {
    queuePrefix,
    dataDir,
    env: { TEST_DELIVERY_TUNING: JSON.stringify({ lockDurationMs: 2_000, stalledIntervalMs: 1_000 }), ...env },
  });

const exitOf = (process_: ChildProcess) => new Promise<number | null>((resolve) => process_.once("exit", (code) => resolve(code)));

it("SIGTERM: in-flight deliveries finish, the worker exits 0, each activity arrives once", async () => {
  const alice = await createAccount(web, "alice");
  const bob = await insertRemoteAccount(web, sink);
  const chat = await chatTo(web, alice.token, bob.id);
  child = await startWorker({ SHUTDOWN_TIMEOUT_MS: "20000", DELIVERY_MAX_PER_HOST: "4" });

  // 6 messages, at most 4 in flight at once (DELIVERY_MAX_PER_HOST): some are still queued.
  const sent = [];
  for (let i = 0; i < 6; i++) {
    const response = await chat.send(`message ${i}`);
    expect(response.status).toBe(200);
    sent.push(response.body.id as string);
  }
  await sink.waitFor(3, 20_000);
  const stoppedAt = Date.now();
  const exited = exitOf(child);
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
  child = undefined;
  // It waited for its POSTs (2 s each) rather than cutting them.
  expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(1_000);
  const answered = sink.received.length;
  const rows = (await Promise.all(sent.map((id) => deliveriesOf(web, id)))).flat();
  // Every POST the worker started was answered and recorded: none is left half done.
  expect(rows.filter((r) => r.status === "delivered")).toHaveLength(answered);
  expect(rows.filter((r) => r.status === "pending").every((r) => r.attempts === 0)).toBe(true);

  // A new worker takes what was never started.
  worker = await startTestParley({ queue: "redis", role: "worker", databaseUrl: web.databaseUrl, queuePrefix, deliveryTuning: PATIENT });
  for (const id of sent) await chat.until(id, "delivered", 30_000);
  await sleep(500);
  const ids = sink.received.map((r) => r.activity.id);
  expect(ids).toHaveLength(6);
  expect(new Set(ids).size).toBe(6);
  const done = (await Promise.all(sent.map((id) => deliveriesOf(web, id)))).flat();
  expect(done.every((r) => r.status === "delivered" && r.attempts === 1)).toBe(true);
}, 90_000);

it("SIGTERM past SHUTDOWN_TIMEOUT_MS: the cut job runs again on the next worker; still exit 0", async () => {
  await worker?.close();
  worker = undefined;
  const carol = await createAccount(web, "carol");
  const dave = await insertRemoteAccount(web, sink);
  const chat = await chatTo(web, carol.token, dave.id);
  child = await startWorker({ SHUTDOWN_TIMEOUT_MS: "300" });
  const before = sink.received.length;
  sink.answer({ status: 202, delayMs: 10_000 });
  const sent = await chat.send("cut off");
  await sink.waitFor(before + 1, 20_000);
  const exited = exitOf(child);
  const stoppedAt = Date.now();
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
  child = undefined;
  expect(Date.now() - stoppedAt).toBeLessThan(8_000);
  const [row] = await deliveriesOf(web, sent.body.id);
  expect(row).toMatchObject({ status: "pending", attempts: 0 });

  worker = await startTestParley({
    queue: "redis",
    role: "worker",
    databaseUrl: web.databaseUrl,
    queuePrefix,
    deliveryTuning: { ...PATIENT, lockDurationMs: 2_000, stalledIntervalMs: 500, reconcileEveryMs: 1_000 },
  });
  await chat.until(sent.body.id, "delivered", 45_000);
  const [done] = await deliveriesOf(web, sent.body.id);
  expect(done).toMatchObject({ status: "delivered", attempts: 1 });
  // The receiver saw the cut POST and its re-run: the same activity id (it deduplicates).
  const copies = sink.received.slice(before).map((r) => r.activity.id);
  expect(new Set(copies).size).toBe(1);
}, 90_000);
