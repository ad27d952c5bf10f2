import { randomBytes } from "node:crypto";
import { reconcileDeliveries } from "../src/federation/outgoing/reconciler.js";
import { chatTo, FAST_DELIVERY, insertRemoteAccount, sleep, waitUntil } from "./helpers/delivery.js";
import { type InboxSink, startInboxSink } from "./helpers/inbox-sink.js";
import { createAccount, deleteRedisPrefix, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * PostgreSQL is the source of truth: Redis losing every job (here: the test's own prefix deleted,
 * FLUSHDB being off limits) loses no message once the reconciler has run. And a host never has
 * more than DELIVERY_MAX_PER_HOST requests in flight, whatever the number of workers.
 */

const queuePrefix = `parley-test-recovery-${randomBytes(4).toString("hex")}`;
const env = { DELIVERY_MAX_PER_HOST: "2" };
let web: TestParley;
let worker: TestParley | undefined;
let second: TestParley | undefined;
let sink: InboxSink;

beforeAll(async () => {
  // Web only at first: jobs wait in Redis with nobody to run them.
  [web, sink] = await Promise.all([startTestParley({ queue: "redis", role: "web", queuePrefix, env }), startInboxSink()]);
});
afterAll(async () => {
  await Promise.all([worker?.close(), second?.close()]);
  await Promise.all([web?.close(), sink?.close()]);
  await deleteRedisPrefix(queuePrefix);
});

it("re-enqueues pending deliveries whose jobs Redis lost, and delivers each once", async () => {
  const alice = await createAccount(web, "alice");
  const bob = await insertRemoteAccount(web, sink);
  const chat = await chatTo(web, alice.token, bob.id);
  const sent = [];
  for (const text of ["one", "two", "three"]) sent.push((await chat.send(text)).body);
  expect(await web.parley.deps.queues.deliver.getJobCounts("waiting")).toEqual({ waiting: 3 });

  await deleteRedisPrefix(queuePrefix);
  expect(await web.parley.deps.queues.deliver.getJobCounts("waiting", "delayed")).toEqual({ waiting: 0, delayed: 0 });
  // Workers come up on an empty queue: nothing happens until the reconciler runs.
  worker = await startTestParley({
    queue: "redis",
    role: "worker",
    databaseUrl: web.databaseUrl,
    queuePrefix,
    env,
    // Its scheduled reconciler (which runs once at start) looks only at rows an hour overdue.
    deliveryTuning: { ...FAST_DELIVERY, reconcileEveryMs: 3_600_000, reconcileGraceMs: 3_600_000 },
  });
  await sleep(500);
  expect(sink.received).toHaveLength(0);

  const result = await reconcileDeliveries(worker.parley.deps, { graceMs: 0 });
  expect(result).toEqual({ checked: 3, requeued: 3, promoted: 0 });
  for (const message of sent) await chat.until(message.id, "delivered");
  expect(sink.received.map((r) => r.activity.object.content).sort()).toEqual(["one", "three", "two"]);
  // Nothing left to repair: a second run finds no pending row.
  expect(await reconcileDeliveries(worker.parley.deps, { graceMs: 0 })).toEqual({ checked: 0, requeued: 0, promoted: 0 });
  // The reconciler's own scheduler went with the prefix; a worker puts it back when it starts
  // (and a running one within a minute).
  expect(await worker.parley.deps.queues.deliver.getJobScheduler("reconcile-deliveries")).toMatchObject({ every: 3_600_000 });
});

it("keeps at most DELIVERY_MAX_PER_HOST requests in flight to one host, across worker processes", async () => {
  // A second worker with its own connections: slots are shared through PostgreSQL, not memory.
  second = await startTestParley({
    queue: "redis",
    role: "worker",
    databaseUrl: web.databaseUrl,
    queuePrefix,
    env,
    deliveryTuning: FAST_DELIVERY,
  });
  const alice = await createAccount(web, "carol");
  sink.fallback = { status: 202, delayMs: 250 };
  sink.received.length = 0;
  sink.maxInFlight = 0;
  const recipients = await Promise.all([1, 2, 3].map(() => insertRemoteAccount(web, sink)));
  const chats = await Promise.all(recipients.map((r) => chatTo(web, alice.token, r.id)));
  const sent = await Promise.all(chats.flatMap((chat) => [1, 2, 3].map(async (n) => ({ chat, body: (await chat.send(`n${n}`)).body }))));
  await waitUntil(async () => sink.received.length >= 9 || undefined, 20_000, "9 POSTs");
  for (const { chat, body } of sent) await chat.until(body.id, "delivered");
  expect(sink.maxInFlight).toBe(2);
  expect(sink.received).toHaveLength(9);
  expect(await web.parley.deps.db.$client`SELECT * FROM host_slots`).toHaveLength(0);
});
