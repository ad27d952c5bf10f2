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
 * A worker process SIGKILLed in the middle of a POST loses nothing: its job's lock runs out, a
 * surviving worker runs the delivery again, and the receiver gets the same activity id (which it
 * deduplicates) — the message is delivered, once as far as the receiver can tell.
 */

const queuePrefix = `parley-test-crash-${randomBytes(4).toString("hex")}`;
let web: TestParley;
let worker: TestParley | undefined;
let sink: InboxSink;
let child: ChildProcess | undefined;
let dataDir: string;

beforeAll(async () => {
  [web, sink, dataDir] = await Promise.all([
    // The web role only: the child process is the only worker until it dies.
    startTestParley({ queue: "redis", role: "web", queuePrefix }),
    startInboxSink(),
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

it("delivers a message whose worker was SIGKILLed mid-POST; the receiver sees one activity", async () => {
  const alice = await createAccount(web, "alice");
  const bob = await insertRemoteAccount(web, sink);
  const chat = await chatTo(web, alice.token, bob.id);
  child = await spawnWorkerProcess(web, {
    queuePrefix,
    dataDir,
    // A short lock, so the job of a dead worker is found stalled within seconds (default 30 s).
    env: { TEST_DELIVERY_TUNING: JSON.stringify({ lockDurationMs: 2_000, stalledIntervalMs: 1_000 }) },
  });

  sink.answer({ hang: true });
  const sent = await chat.send("survive this");
  expect(sent.status).toBe(200);
  const [first] = await sink.waitFor(1, 20_000);
  const exited = new Promise((resolve) => child!.once("exit", resolve));
  child.kill("SIGKILL");
  expect(await exited).toBeDefined();
  child = undefined;
  const [row] = await deliveriesOf(web, sent.body.id);
  expect(row).toMatchObject({ status: "pending", attempts: 0 });

  // A surviving worker (another process in real life) takes the stalled job over.
  worker = await startTestParley({
    queue: "redis",
    role: "worker",
    databaseUrl: web.databaseUrl,
    queuePrefix,
    deliveryTuning: { ...FAST_DELIVERY, lockDurationMs: 2_000, stalledIntervalMs: 500 },
  });
  await chat.until(sent.body.id, "delivered", 20_000);
  await sleep(300);
  const ids = sink.received.map((r) => r.activity.id);
  expect(ids).toEqual([first.activity.id, first.activity.id]);
  expect(sink.received.every((r) => r.signature.verified)).toBe(true);
  const [done] = await deliveriesOf(web, sent.body.id);
  expect(done).toMatchObject({ status: "delivered", attempts: 1 });
  // The dead worker's host slot was not released; its lease lets it expire instead.
  const slots = await web.parley.deps.db.$client`SELECT holder, expires_at FROM host_slots`;
  expect(slots).toHaveLength(1);
  expect(new Date(slots[0].expires_at).getTime()).toBeLessThan(Date.now() + 90_000);
}, 60_000);
