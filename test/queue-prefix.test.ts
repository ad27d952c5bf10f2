import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { loadConfig } from "../src/config/config.js";
import type { DeliveryTuning } from "../src/federation/outgoing/policy.js";
import { QUEUE_NAMES } from "../src/queues/queues.js";
import { type Parley, startParley } from "../src/server.js";
import { createLogger } from "../src/shared/logger.js";
import { FAST_DELIVERY, waitUntil } from "./helpers/delivery.js";
import { api, createAccount, deleteRedisPrefix, dropDatabase, freePort, type QueueKind, TEST_PG, TEST_REDIS } from "./helpers/parley.js";

/**
 * QUEUE_PREFIX end to end: Parley started as `npm start` starts it (no prefix given, so the
 * config's default `parley:{<public host>}`), on both queue backends; two deployments sharing one
 * Redis; and an upgrade from another prefix (BullMQ's old default `bull`), whose queued jobs the
 * reconcilers must bring back from the PostgreSQL rows.
 */

interface Deployment {
  /** PUBLIC_URL: with the port, what the default prefix is made of. */
  publicUrl: string;
  port: number;
  databaseUrl: string;
  dataDir: string;
  adminToken: string;
}

async function newDeployment(): Promise<Deployment> {
  const port = await freePort();
  return {
    publicUrl: `http://127.0.0.1:${port}`,
    port,
    databaseUrl: `${TEST_PG}/parley_test_qp_${randomBytes(5).toString("hex")}`,
    dataDir: await mkdtemp(path.join(tmpdir(), "parley-test-qp-")),
    adminToken: randomBytes(24).toString("hex"),
  };
}

/** One process of a deployment, started as src/main.ts does: the prefix comes from the config. */
async function start(
  d: Deployment,
  queue: QueueKind,
  role: "all" | "web" | "worker",
  options: { env?: Record<string, string>; deliveryTuning?: Partial<DeliveryTuning>; queuePrefix?: string } = {},
): Promise<Parley> {
  const config = loadConfig({
    PORT: role === "worker" ? "0" : String(d.port),
    HOST: "127.0.0.1",
    PUBLIC_URL: d.publicUrl,
    DATABASE_URL: d.databaseUrl,
    ...(queue === "redis" ? { REDIS_URL: TEST_REDIS } : {}),
    DATA_DIR: d.dataDir,
    ADMIN_TOKEN: d.adminToken,
    ALLOW_PRIVATE_ADDRESS: "true",
    ROLE: role,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    RATE_LIMIT_API: "off",
    RATE_LIMIT_INBOX: "off",
    RATE_LIMIT_INBOX_IP: "off",
    ...options.env,
  });
  return startParley(config, createLogger(config.logLevel), { deliveryTuning: options.deliveryTuning, queuePrefix: options.queuePrefix });
}

const defaultPrefix = (d: Deployment) => `parley:{127.0.0.1:${d.port}}`;

async function cleanUp(ds: Deployment[], processes: (Parley | undefined)[], queue: QueueKind) {
  await Promise.all(processes.map((p) => p?.close().catch(() => {})));
  for (const d of ds) {
    await dropDatabase(d.databaseUrl);
    if (queue === "redis") await deleteRedisPrefix(defaultPrefix(d));
    await rm(d.dataDir, { recursive: true, force: true });
  }
}

/** Looks `to` up from `from`'s side, opens the chat and posts; returns the message JSON. */
async function sendRemote(from: { url: string; token: string }, acct: string, content: string) {
  const me = api(from.url, from.token);
  const found = await me.get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(acct)}`);
  expect(found.status).toBe(200);
  const chat = await me.post(`/api/v1/pleroma/chats/by-account-id/${found.body.id}`);
  expect(chat.status).toBe(200);
  const sent = await me.post(`/api/v1/pleroma/chats/${chat.body.id}/messages`, { content });
  expect(sent.status).toBe(200);
  return { chatId: chat.body.id as string, message: sent.body };
}

/** The contents of every message `token`'s chats show. */
async function shown(base: string, token: string): Promise<string[]> {
  const me = api(base, token);
  const chats = await me.get("/api/v1/pleroma/chats");
  const out: string[] = [];
  for (const chat of chats.body as { id: string }[]) {
    const messages = await me.get(`/api/v1/pleroma/chats/${chat.id}/messages`);
    out.push(...(messages.body as { content: string }[]).map((m) => m.content));
  }
  return out;
}

async function redisKeys(pattern: string): Promise<string[]> {
  const redis = new Redis(TEST_REDIS);
  try {
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, found] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== "0");
    return keys;
  } finally {
    redis.disconnect();
  }
}

describe.each<QueueKind>(["redis", "postgres"])("the default QUEUE_PREFIX, queues on %s", (queue) => {
  let a: Deployment;
  let b: Deployment;
  let pa: Parley | undefined;
  let pb: Parley | undefined;

  beforeAll(async () => {
    [a, b] = await Promise.all([newDeployment(), newDeployment()]);
    // A counts API requests: its rate-limit keys must live under its prefix too.
    [pa, pb] = await Promise.all([start(a, queue, "all", { env: { RATE_LIMIT_API: "1000/60" } }), start(b, queue, "all")]);
  }, 60_000);
  afterAll(() => cleanUp([a, b], [pa, pb], queue), 60_000);

  it("is parley:{<public host>} and carries messages both ways between two deployments", async () => {
    expect(pa!.deps.queues.backend.prefix).toBe(defaultPrefix(a));
    expect(pb!.deps.queues.backend.prefix).toBe(defaultPrefix(b));
    const [alice, bob] = await Promise.all([
      createAccount({ url: a.publicUrl, adminToken: a.adminToken }, "alice"),
      createAccount({ url: b.publicUrl, adminToken: b.adminToken }, "bob"),
    ]);

    await sendRemote({ url: a.publicUrl, token: alice.token }, `bob@127.0.0.1:${b.port}`, "hello bob");
    await waitUntil(async () => (await shown(b.publicUrl, bob.token)).includes("hello bob"), 20_000, "A → B");
    await sendRemote({ url: b.publicUrl, token: bob.token }, `alice@127.0.0.1:${a.port}`, "hello alice");
    await waitUntil(async () => (await shown(a.publicUrl, alice.token)).includes("hello alice"), 20_000, "B → A");

    if (queue === "redis") {
      // Every queue's keys under the prefix, hash tag included (one Redis Cluster slot per deployment).
      for (const name of Object.values(QUEUE_NAMES)) {
        expect((await redisKeys(`${defaultPrefix(a)}:${name}:*`)).length).toBeGreaterThan(0);
      }
      expect((await redisKeys(`${defaultPrefix(a)}:*ratelimit*`)).length).toBeGreaterThan(0);
      // Nothing of A's under BullMQ's default prefix nor under B's.
      const aHost = `127.0.0.1:${a.port}`;
      expect((await redisKeys(`bull:*`)).filter((key) => key.includes(aHost))).toEqual([]);
      expect(await redisKeys(`${defaultPrefix(b)}:*ratelimit*`)).toEqual([]);
    } else {
      // The PostgreSQL backend ignores the prefix: each deployment's jobs are in its own database.
      const schema = await pa!.deps.db.$client<
        { n: number }[]
      >`SELECT count(*)::int AS n FROM bullmq.meta WHERE queue = ${QUEUE_NAMES.inbound}`;
      expect(schema[0].n).toBeGreaterThan(0);
    }
  }, 90_000);
});

describe("two deployments on one Redis", () => {
  let a: Deployment;
  let b: Deployment;
  const processes: (Parley | undefined)[] = [];

  beforeAll(async () => {
    [a, b] = await Promise.all([newDeployment(), newDeployment()]);
  });
  afterAll(() => cleanUp([a, b], processes, "redis"), 60_000);

  it("never take each other's jobs: A's inbound job waits for A's own worker while B works", async () => {
    // A runs no worker yet: a job in A's queues can only be taken by B's worker, by mistake.
    const aWeb = await start(a, "redis", "web");
    processes.push(aWeb);
    const bAll = await start(b, "redis", "all", { deliveryTuning: FAST_DELIVERY });
    processes.push(bAll);
    const [alice, bob] = await Promise.all([
      createAccount({ url: a.publicUrl, adminToken: a.adminToken }, "alice"),
      createAccount({ url: b.publicUrl, adminToken: b.adminToken }, "bob"),
    ]);

    const fromBob = await sendRemote({ url: b.publicUrl, token: bob.token }, `alice@127.0.0.1:${a.port}`, "for alice");
    // B's worker delivers B's message (B's deliver queue) …
    await waitUntil(
      async () =>
        (await api(b.publicUrl, bob.token).get(`/api/v1/pleroma/chats/${fromBob.chatId}/messages`)).body[0]?.parley?.delivery ===
        "delivered",
      20_000,
      "B's delivery",
    );
    // … and A's inbox accepted it into A's inbound queue, where it stays: B's worker never takes it.
    const aSql = aWeb.deps.db.$client;
    const [row] = await waitUntil(
      async () => {
        const rows = await aSql<{ id: string; status: string }[]>`SELECT id, status FROM inbox_activities`;
        return rows.length ? rows : undefined;
      },
      10_000,
      "A's inbox row",
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const job = await aWeb.deps.queues.inbound.getJob(row.id);
    expect(job).toBeDefined();
    expect(await job!.getState()).toBe("waiting");
    expect((await aSql<{ status: string }[]>`SELECT status FROM inbox_activities WHERE id = ${row.id}`)[0].status).toBe("pending");
    expect(await bSqlInboxCount(bAll)).toBe(0);

    // A's own worker takes it; then both deliver their own messages.
    processes.push(await start(a, "redis", "worker", { deliveryTuning: FAST_DELIVERY }));
    await waitUntil(async () => (await shown(a.publicUrl, alice.token)).includes("for alice"), 20_000, "A applies its own job");
    await sendRemote({ url: a.publicUrl, token: alice.token }, `bob@127.0.0.1:${b.port}`, "for bob");
    await waitUntil(async () => (await shown(b.publicUrl, bob.token)).includes("for bob"), 20_000, "A → B");
  }, 90_000);
});

async function bSqlInboxCount(p: Parley): Promise<number> {
  const [row] = await p.deps.db.$client<{ n: number }[]>`SELECT count(*)::int AS n FROM inbox_activities`;
  return row.n;
}

describe("upgrading from another queue prefix (BullMQ's old default `bull`)", () => {
  let u: Deployment;
  let peer: Deployment;
  // A stand-in for `bull` itself: the shared Redis may hold other `bull:` keys.
  const oldPrefix = `bull-qp-${randomBytes(4).toString("hex")}`;
  const processes: (Parley | undefined)[] = [];

  beforeAll(async () => {
    [u, peer] = await Promise.all([newDeployment(), newDeployment()]);
  });
  afterAll(async () => {
    await cleanUp([u, peer], processes, "redis");
    await deleteRedisPrefix(oldPrefix);
  }, 60_000);

  it("loses no message: the reconcilers re-enqueue the rows whose jobs stayed under the old prefix", async () => {
    // Before the upgrade: U's web queues jobs under the old prefix, and no worker runs them.
    const before = await start(u, "redis", "web", { queuePrefix: oldPrefix });
    processes.push(before);
    const peerAll = await start(peer, "redis", "all", { deliveryTuning: FAST_DELIVERY });
    processes.push(peerAll);
    const [ursula, pat] = await Promise.all([
      createAccount({ url: u.publicUrl, adminToken: u.adminToken }, "ursula"),
      createAccount({ url: peer.publicUrl, adminToken: peer.adminToken }, "pat"),
    ]);
    await sendRemote({ url: u.publicUrl, token: ursula.token }, `pat@127.0.0.1:${peer.port}`, "queued outgoing");
    await sendRemote({ url: peer.publicUrl, token: pat.token }, `ursula@127.0.0.1:${u.port}`, "queued incoming");
    const uSql = before.deps.db.$client;
    await waitUntil(
      async () => (await uSql<{ n: number }[]>`SELECT count(*)::int AS n FROM inbox_activities WHERE status = 'pending'`)[0].n === 1,
      10_000,
      "U's pending inbox row",
    );
    expect((await uSql<{ n: number }[]>`SELECT count(*)::int AS n FROM deliveries WHERE status = 'pending'`)[0].n).toBe(1);
    expect((await redisKeys(`${oldPrefix}:inbound:*`)).length).toBeGreaterThan(0);
    expect((await redisKeys(`${oldPrefix}:deliver:*`)).length).toBeGreaterThan(0);

    // The upgrade: U restarts with the default prefix; the old keys are left behind. The inbound
    // reconciler looks at rows older than a minute: date the pending row back instead of waiting.
    await before.close();
    processes.splice(processes.indexOf(before), 1);
    const after = await start(u, "redis", "all", { deliveryTuning: { ...FAST_DELIVERY, reconcileEveryMs: 1_000 } });
    processes.push(after);
    const afterSql = after.deps.db.$client;
    await afterSql`UPDATE inbox_activities SET received_at = now() - interval '5 minutes' WHERE status = 'pending'`;
    expect(after.deps.queues.backend.prefix).toBe(defaultPrefix(u));

    await waitUntil(
      async () => (await shown(u.publicUrl, ursula.token)).includes("queued incoming"),
      60_000,
      "the incoming message after the upgrade",
    );
    await waitUntil(
      async () => (await shown(peer.publicUrl, pat.token)).includes("queued outgoing"),
      60_000,
      "the outgoing message after the upgrade",
    );
    const left = await afterSql<{ d: number; i: number }[]>`SELECT
      (SELECT count(*) FROM deliveries WHERE status <> 'delivered')::int AS d,
      (SELECT count(*) FROM inbox_activities WHERE status <> 'applied')::int AS i`;
    expect(left[0]).toEqual({ d: 0, i: 0 });
  }, 120_000);
});
