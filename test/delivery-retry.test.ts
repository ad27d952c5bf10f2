import { resetHostPause } from "../src/federation/outgoing/hosts.js";
import { reconcileDeliveries } from "../src/federation/outgoing/reconciler.js";
import { chatTo, deliveriesOf, FAST_DELIVERY, insertRemoteAccount, sleep, waitUntil } from "./helpers/delivery.js";
import { type InboxSink, startInboxSink } from "./helpers/inbox-sink.js";
import { createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * How a delivery answers the remote server: retried after 5xx, timeouts and 429 (at its
 * Retry-After), given up on 4xx, the actor marked gone on 404/410 from its own inbox, and a host
 * that keeps failing paused until it shows signs of life. Each case has its own sink, that is
 * its own host (host failures would otherwise add up across cases).
 */

/** Timestamps come back from the raw client as text. */
const time = (value: string) => new Date(value).getTime();

let parley: TestParley;
let alice: Awaited<ReturnType<typeof createAccount>>;
const sinks: InboxSink[] = [];

async function setup(options: Parameters<typeof insertRemoteAccount>[2] = {}) {
  const sink = await startInboxSink();
  sinks.push(sink);
  const remote = await insertRemoteAccount(parley, sink, options);
  const chat = await chatTo(parley, alice.token, remote.id);
  return { sink, remote, chat };
}

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres", deliveryTuning: FAST_DELIVERY });
  alice = await createAccount(parley, "alice");
});
afterAll(async () => {
  await Promise.all([parley?.close(), ...sinks.map((sink) => sink.close())]);
});

it("retries after a 503 and delivers once", async () => {
  const { sink, chat } = await setup();
  sink.answer({ status: 503, body: "down for maintenance" });
  const sent = await chat.send("are you up?");
  await chat.until(sent.body.id, "delivered");
  expect(sink.received.map((r) => r.answer.status ?? 202)).toEqual([503, 202]);
  expect(new Set(sink.received.map((r) => r.activity.id)).size).toBe(1);
  expect(sink.received.every((r) => r.signature.verified)).toBe(true);
  const [row] = await deliveriesOf(parley, sent.body.id);
  expect(row).toMatchObject({ status: "delivered", attempts: 2, last_error: null });
  await sleep(500);
  expect(sink.received).toHaveLength(2);
});

it("waits for Retry-After on a 429 before the next attempt", async () => {
  const { sink, chat } = await setup();
  sink.answer({ status: 429, headers: { "retry-after": "2" } });
  const sent = await chat.send("slow down");
  const [first] = await sink.waitFor(1);
  const [row] = await waitUntil(async () => {
    const rows = await deliveriesOf(parley, sent.body.id);
    return rows[0]?.attempts === 1 ? rows : undefined;
  });
  expect(row.last_error).toBe("HTTP 429");
  expect(time(row.next_attempt_at) - first.receivedAt).toBeGreaterThanOrEqual(2000);
  await chat.until(sent.body.id, "delivered", 10_000);
  const second = sink.received[1];
  expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(2000);
  expect(sink.received).toHaveLength(2);
});

it("gives up at once on a 400, without a retry", async () => {
  const { sink, chat } = await setup();
  sink.answer({ status: 400, body: '{"error":"bad request"}' });
  const sent = await chat.send("malformed?");
  const failed = await chat.until(sent.body.id, "failed");
  expect(failed.parley).toEqual({ delivery: "failed" });
  const [row] = await deliveriesOf(parley, sent.body.id);
  expect(row).toMatchObject({ status: "failed", attempts: 1, last_error: 'HTTP 400: {"error":"bad request"}' });
  await sleep(800);
  expect(sink.received).toHaveLength(1);
});

it("marks the actor gone on a 410 from their personal inbox, and refuses the next message", async () => {
  const { sink, remote, chat } = await setup({ sharedInbox: false });
  sink.answer({ status: 410 });
  const sent = await chat.send("still there?");
  await chat.until(sent.body.id, "failed");
  expect(sink.received[0].path).toBe(`/users/${remote.username}/inbox`);
  const sql = parley.parley.deps.db.$client;
  const [account] = await sql`SELECT gone_at FROM accounts WHERE id = ${remote.id}`;
  expect(time(account.gone_at)).toBeGreaterThan(Date.now() - 60_000);
  const next = await chat.send("hello?");
  expect(next.status).toBe(422);
  expect(next.body).toEqual({ error: "recipient_gone" });
  await sleep(300);
  expect(sink.received).toHaveLength(1);
});

it("fails a 410 from a shared inbox without marking the actor gone", async () => {
  const { sink, remote, chat } = await setup();
  sink.answer({ status: 410 });
  const sent = await chat.send("anyone?");
  await chat.until(sent.body.id, "failed");
  const [account] = await parley.parley.deps.db.$client`SELECT gone_at FROM accounts WHERE id = ${remote.id}`;
  expect(account.gone_at).toBeNull();
});

it("times out a hanging inbox and retries", async () => {
  const { sink, chat } = await setup();
  sink.answer({ hang: true });
  const sent = await chat.send("hello, slow server");
  const [first] = await sink.waitFor(1);
  const [row] = await waitUntil(async () => {
    const rows = await deliveriesOf(parley, sent.body.id);
    return rows[0]?.attempts === 1 ? rows : undefined;
  }, 10_000);
  expect(row.last_error).toMatch(/^timeout/);
  await chat.until(sent.body.id, "delivered", 10_000);
  expect(sink.received).toHaveLength(2);
  // The client gave up after requestTimeoutMs (1.5 s here), not the sink.
  expect(sink.received[1].receivedAt - first.receivedAt).toBeGreaterThanOrEqual(1500);
});

it("pauses a host after 5 failures in 10 minutes; a sign of life from it lifts the pause", async () => {
  const { sink, remote, chat } = await setup();
  sink.fallback = { status: 502 };
  const sent = await chat.send("first");
  const host = new URL(sink.url).host;
  const sql = parley.parley.deps.db.$client;
  const [state] = await waitUntil(() =>
    sql`SELECT * FROM host_states WHERE host = ${host} AND paused_until > now()`.then((r) => (r.length ? r : undefined)),
  );
  expect(time(state.paused_until) - Date.now()).toBeGreaterThan(29 * 60_000);
  expect(time(state.expires_at)).toBeGreaterThan(time(state.paused_until));
  expect(sink.received).toHaveLength(5);

  // Held, not tried: neither the failing message nor a new one reaches the host while paused.
  const held = await chat.send("second");
  expect(held.status).toBe(200);
  await waitUntil(async () => {
    const rows = await sql`SELECT last_error FROM deliveries WHERE recipient_id = ${remote.id}`;
    return rows.length === 2 && rows.every((r) => r.last_error?.startsWith("host paused"));
  });
  await sleep(500);
  expect(sink.received).toHaveLength(5);

  sink.fallback = { status: 202 };
  await resetHostPause(parley.parley.deps.db, host);
  expect(await sql`SELECT 1 FROM host_states WHERE host = ${host}`).toHaveLength(0);
  const result = await reconcileDeliveries(parley.parley.deps, { graceMs: 0 });
  expect(result.promoted).toBeGreaterThanOrEqual(2);
  await chat.until(sent.body.id, "delivered");
  await chat.until(held.body.id, "delivered");
  const [row] = await deliveriesOf(parley, sent.body.id);
  expect(row.attempts).toBe(6);
});

it("refuses to send to a blocked domain, and drops pending deliveries once their domain is blocked", async () => {
  const { sink, chat } = await setup();
  const sql = parley.parley.deps.db.$client;
  sink.answer({ status: 503 });
  const sent = await chat.send("before the block");
  await sink.waitFor(1);
  await sql`INSERT INTO domain_blocks (id, domain) VALUES ('01hzzzzzzzzzzzzzzzzzzzzzzy', ${new URL(sink.url).host})`;
  const failed = await chat.until(sent.body.id, "failed");
  expect(failed.parley).toEqual({ delivery: "failed" });
  const [row] = await deliveriesOf(parley, sent.body.id);
  expect(row.last_error).toBe("domain blocked by the admin");
  expect(sink.received).toHaveLength(1);

  const refused = await chat.send("after the block");
  expect(refused.status).toBe(422);
  expect(refused.body).toEqual({ error: "blocked" });
});
