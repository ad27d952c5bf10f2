import { chatTo, FAST_DELIVERY, insertRemoteAccount, sleep } from "./helpers/delivery.js";
import { type InboxSink, startInboxSink } from "./helpers/inbox-sink.js";
import { createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Isolation per remote server, outgoing (issue 13): an inbox that never answers holds at most
 * DELIVERY_MAX_PER_HOST of the DELIVERY_CONCURRENCY requests; its other deliveries wait in the
 * queue, not in a slot, and another server's deliveries go out meanwhile.
 */

const MAX_PER_HOST = 2;

let parley: TestParley;
let hanging: InboxSink;
let healthy: InboxSink;

beforeAll(async () => {
  [parley, hanging, healthy] = await Promise.all([
    startTestParley({
      queue: "redis",
      // Requests that outlast the test: the hanging host's slots stay taken throughout.
      deliveryTuning: { ...FAST_DELIVERY, requestTimeoutMs: 60_000 },
      env: { DELIVERY_CONCURRENCY: "4", DELIVERY_MAX_PER_HOST: String(MAX_PER_HOST) },
    }),
    startInboxSink({ fallback: { hang: true } }),
    startInboxSink(),
  ]);
});
afterAll(async () => {
  await Promise.all([parley?.close(), hanging?.close(), healthy?.close()]);
});

it("lets a hanging host hold only its share of the delivery slots while another host's deliveries go out", async () => {
  const alice = await createAccount(parley, "alice");
  const stuck = await chatTo(parley, alice.token, (await insertRemoteAccount(parley, hanging)).id);
  for (let i = 0; i < 6; i++) expect((await stuck.send(`into the void ${i}`)).status).toBe(200);
  await hanging.waitFor(MAX_PER_HOST, 10_000);

  const fine = await chatTo(parley, alice.token, (await insertRemoteAccount(parley, healthy)).id);
  const sent = await Promise.all([1, 2, 3].map((i) => fine.send(`hello ${i}`)));
  for (const message of sent) await fine.until(message.body.id, "delivered", 10_000);

  // The six deliveries to the hanging host had all been tried for a slot meanwhile (waiting 50 ms
  // at a time): still only its share in flight.
  await sleep(500);
  expect(hanging.received).toHaveLength(MAX_PER_HOST);
  expect(hanging.maxInFlight).toBe(MAX_PER_HOST);
  const pending = await parley.parley.deps.db.$client`
    SELECT count(*)::int AS n FROM deliveries WHERE status = 'pending' AND inbox_url LIKE ${`${hanging.url}/%`}`;
  expect(pending[0].n).toBe(6);
}, 60_000);
