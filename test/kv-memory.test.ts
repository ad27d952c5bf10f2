import type { KvKey } from "@fedify/fedify";
import { Temporal } from "@js-temporal/polyfill";
import { KEY_FAILURE_TTL_MS, PostgresKvStore } from "../src/federation/kv.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";

/** The in-memory layer of the KV store (remote public keys on the inbox's hot path). */

let parley: TestParley;
const KEY: KvKey = ["_fedify", "publicKey", "https://remote.example/users/a#main-key"];
const OTHER: KvKey = ["_fedify", "remoteDocument", "https://remote.example/x"];

beforeAll(async () => {
  parley = await startTestParley({ role: "web" });
});

afterAll(async () => {
  await parley?.close();
});

const memoryStore = (ttlMs = 60_000) =>
  new PostgresKvStore(parley.parley.deps.db, { prefixes: [["_fedify", "publicKey"]], ttlMs, maxEntries: 100 });
/** What another process writes: straight to the table. */
const writeElsewhere = (key: KvKey, value: unknown) =>
  parley.parley.deps.db.$client`UPDATE fedify_kv SET value = ${JSON.stringify(value)}::jsonb WHERE key = ${JSON.stringify(key)}`;

it("answers a remembered entry from memory for its ttl, and reads the table again after", async () => {
  const store = memoryStore(300);
  await store.set(KEY, { v: 1 });
  expect(await store.get(KEY)).toEqual({ v: 1 });
  await writeElsewhere(KEY, { v: 2 });
  expect(await store.get(KEY)).toEqual({ v: 1 });
  expect(await new PostgresKvStore(parley.parley.deps.db).get(KEY)).toEqual({ v: 2 });
  await new Promise((resolve) => setTimeout(resolve, 350));
  expect(await store.get(KEY)).toEqual({ v: 2 });
});

it("forgets its copy on its own set, delete and cas", async () => {
  const store = memoryStore();
  await store.set(KEY, { v: "a" });
  expect(await store.get(KEY)).toEqual({ v: "a" });
  await store.set(KEY, { v: "b" });
  expect(await store.get(KEY)).toEqual({ v: "b" });
  expect(await store.cas(KEY, { v: "b" }, { v: "c" })).toBe(true);
  expect(await store.get(KEY)).toEqual({ v: "c" });
  await store.delete(KEY);
  expect(await store.get(KEY)).toBeUndefined();
});

it("never keeps an entry past its own expiry", async () => {
  const store = memoryStore(60_000);
  await store.set(KEY, { v: "short" }, { ttl: Temporal.Duration.from({ milliseconds: 200 }) });
  expect(await store.get(KEY)).toEqual({ v: "short" });
  await new Promise((resolve) => setTimeout(resolve, 250));
  expect(await store.get(KEY)).toBeUndefined();
});

it("keeps nothing in memory for other prefixes", async () => {
  const store = memoryStore();
  await store.set(OTHER, { v: 1 });
  expect(await store.get(OTHER)).toEqual({ v: 1 });
  await writeElsewhere(OTHER, { v: 2 });
  expect(await store.get(OTHER)).toEqual({ v: 2 });
});

it("keeps Fedify's memory of an unavailable key a minute, not its 10 minutes; keys themselves keep their ttl", async () => {
  const store = new PostgresKvStore(parley.parley.deps.db);
  const tenMinutes = { ttl: Temporal.Duration.from({ minutes: 10 }) };
  const failure: KvKey = ["_fedify", "publicKey", "__fetchError", "https://remote.example/users/b#main-key"];
  const missing: KvKey = ["_fedify", "publicKey", "https://remote.example/users/b#main-key"];
  await store.set(failure, { errorName: "TimeoutError", errorMessage: "slow" }, tenMinutes);
  await store.set(missing, null, tenMinutes);
  await store.set(OTHER, { v: 1 }, tenMinutes);
  const expiry = async (key: KvKey) => {
    const [row] = await parley.parley.deps.db.$client<{ ms: number }[]>`
      SELECT extract(epoch FROM expires_at - now()) * 1000 AS ms FROM fedify_kv WHERE key = ${JSON.stringify(key)}`;
    return Number(row.ms);
  };
  expect(await expiry(failure)).toBeLessThanOrEqual(KEY_FAILURE_TTL_MS);
  expect(await expiry(missing)).toBeLessThanOrEqual(KEY_FAILURE_TTL_MS);
  expect(await expiry(OTHER)).toBeGreaterThan(9 * 60_000);
});
