import parsePrometheusTextFormat, { type MetricFamily } from "parse-prometheus-text-format";
import { chatTo, FAST_DELIVERY, insertRemoteAccount, waitUntil } from "./helpers/delivery.js";
import { type InboxSink, startInboxSink } from "./helpers/inbox-sink.js";
import { createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * `/metrics`: Prometheus text that a parser accepts, each family once; the delivery
 * counter moves after a delivery to a loopback inbox, the inbox counter after refused POSTs, the
 * latency histogram is labelled by route pattern, never by raw ids.
 */

let parley: TestParley;
let sink: InboxSink;

beforeAll(async () => {
  [parley, sink] = await Promise.all([startTestParley({ queue: "postgres", deliveryTuning: FAST_DELIVERY }), startInboxSink()]);
});
afterAll(async () => {
  await Promise.all([parley?.close(), sink?.close()]);
});

async function scrape(): Promise<{ text: string; families: MetricFamily[] }> {
  const response = await fetch(`${parley.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  return { text, families: parsePrometheusTextFormat(text) };
}

/** Strict checks the parser does not make: one HELP/TYPE per family, its samples contiguous. */
function assertWellFormed(text: string) {
  const typed = new Map<string, string>();
  const seenFamilies: string[] = [];
  let current: string | undefined;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      expect(typed.has(type[1])).toBe(false);
      typed.set(type[1], type[2]);
      seenFamilies.push(type[1]);
      current = type[1];
      continue;
    }
    if (line.startsWith("# HELP ")) continue;
    const sample =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)( -?\d+)?$/.exec(line);
    if (!sample) throw new Error(`not a Prometheus sample line: ${line}`);
    const name = sample[1];
    const family = [current, `${current}_bucket`, `${current}_sum`, `${current}_count`, `${current}_total`, `${current}_created`];
    if (!family.includes(name)) throw new Error(`sample ${name} outside its family (current ${current})`);
  }
  return typed;
}

/** Route labels of the latency histogram (read from the text: the parser drops histogram labels). */
const routesOf = (text: string) =>
  new Set([...text.matchAll(/^parley_http_request_duration_seconds_count\{[^}]*route="([^"]*)"/gm)].map((m) => m[1]));

const sum = (families: MetricFamily[], name: string, labels: Record<string, string> = {}) =>
  (families.find((f) => f.name === name)?.metrics ?? [])
    .filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .reduce((total, m) => total + Number(m.value ?? 0), 0);

it("parses, each family once, with queue depths, streaming, HTTP latency and Node defaults", async () => {
  // A request with an id in its path, to see the route pattern in the histogram.
  await fetch(`${parley.url}/api/v1/pleroma/chats/01HZZZZZZZZZZZZZZZZZZZZZZZ/messages`, {
    headers: { authorization: `Bearer ${parley.adminToken}` },
  });
  const { text, families } = await scrape();
  const typed = assertWellFormed(text);
  const names = families.map((f) => f.name);
  expect(new Set(names).size).toBe(names.length);
  for (const [name, type] of [
    ["parley_queue_jobs", "gauge"],
    ["parley_delivery_attempts_total", "counter"],
    ["parley_inbox_requests_total", "counter"],
    ["parley_http_request_duration_seconds", "histogram"],
    ["parley_streaming_connections", "gauge"],
    ["process_cpu_user_seconds_total", "counter"],
    ["nodejs_eventloop_lag_seconds", "gauge"],
  ]) {
    expect(typed.get(name)).toBe(type);
  }
  const queueJobs = families.find((f) => f.name === "parley_queue_jobs")!;
  for (const queue of ["housekeeping", "inbound", "deliver"]) {
    expect(queueJobs.metrics.some((m) => m.labels?.queue === queue && m.labels?.state === "failed")).toBe(true);
  }
  const routes = routesOf(text);
  expect(routes).toContain("/api/v1/pleroma/chats/:id/messages");
  expect([...routes].some((route) => route?.includes("01HZZZZ"))).toBe(false);
  expect(sum(families, "parley_streaming_connections")).toBe(0);
});

it("counts a delivery to a loopback inbox in parley_delivery_attempts_total", async () => {
  const before = await scrape();
  const delivered = sum(before.families, "parley_delivery_attempts_total", { outcome: "delivered", reason: "2xx" });
  const retried = sum(before.families, "parley_delivery_attempts_total", { outcome: "retry", reason: "5xx" });
  const alice = await createAccount(parley, "alice");
  const bob = await insertRemoteAccount(parley, sink);
  const chat = await chatTo(parley, alice.token, bob.id);
  sink.answer({ status: 503 });
  const sent = await chat.send("hello");
  expect(sent.status).toBe(200);
  await chat.until(sent.body.id, "delivered");
  const after = await waitUntil(async () => {
    const scraped = await scrape();
    return sum(scraped.families, "parley_delivery_attempts_total", { outcome: "delivered", reason: "2xx" }) > delivered
      ? scraped
      : undefined;
  });
  expect(sum(after.families, "parley_delivery_attempts_total", { outcome: "delivered", reason: "2xx" })).toBe(delivered + 1);
  expect(sum(after.families, "parley_delivery_attempts_total", { outcome: "retry", reason: "5xx" })).toBe(retried + 1);
});

it("counts refused inbox POSTs in parley_inbox_requests_total by status and reason", async () => {
  const activity = {
    "@context": "https://www.w3.org/ns/activitystreams",
    id: "http://127.0.0.1:9/activities/1",
    type: "Create",
    actor: "http://127.0.0.1:9/users/x",
    object: { id: "http://127.0.0.1:9/notes/1", type: "Note", content: "hi", attributedTo: "http://127.0.0.1:9/users/x" },
  };
  const unsigned = await fetch(`${parley.url}/inbox`, {
    method: "POST",
    headers: { "content-type": "application/activity+json" },
    body: JSON.stringify(activity),
  });
  expect(unsigned.status).toBe(401);
  const tooLarge = await fetch(`${parley.url}/users/alice/inbox`, {
    method: "POST",
    headers: { "content-type": "application/activity+json" },
    body: JSON.stringify({ ...activity, padding: "x".repeat(parley.parley.deps.config.inboxMaxBytes) }),
  });
  expect(tooLarge.status).toBe(413);
  const { text, families } = await scrape();
  expect(sum(families, "parley_inbox_requests_total", { status: "401", reason: "noSignature" })).toBe(1);
  expect(sum(families, "parley_inbox_requests_total", { status: "413", reason: "payload_too_large" })).toBe(1);
  const routes = routesOf(text);
  expect(routes).toContain("/users/:name/inbox");
  expect(routes).toContain("/inbox");
});
