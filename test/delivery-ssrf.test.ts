import { newId } from "../src/shared/ids.js";
import { chatTo, FAST_DELIVERY } from "./helpers/delivery.js";
import { type InboxSink, startInboxSink } from "./helpers/inbox-sink.js";
import { createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * With ALLOW_PRIVATE_ADDRESS=false (the production default) a delivery to a private, loopback or
 * IPv4-mapped address is refused before any connection, and fails for good (no retry).
 */

let parley: TestParley;
let sink: InboxSink;

beforeAll(async () => {
  [parley, sink] = await Promise.all([
    startTestParley({ queue: "postgres", env: { ALLOW_PRIVATE_ADDRESS: "false" }, deliveryTuning: FAST_DELIVERY }),
    startInboxSink(),
  ]);
});
afterAll(async () => {
  await Promise.all([parley?.close(), sink?.close()]);
});

async function remoteAt(inbox: string) {
  const id = newId();
  const url = new URL(inbox);
  const uri = `${url.origin}/users/${id}`;
  await parley.parley.deps.db
    .$client`INSERT INTO accounts (id, username, domain, uri, url, inbox_url, accepts_chat_messages, software, fetched_at)
    VALUES (${id}, ${`u${id.slice(-6)}`}, ${url.host}, ${uri}, ${uri}, ${inbox}, true, 'pleroma', now())`;
  return id;
}

it.each([
  ["loopback", () => `https://127.0.0.1:${new URL(sink.url).port}/inbox`],
  ["a private network", () => "https://10.0.0.1/inbox"],
  ["IPv4-mapped loopback", () => `https://[::ffff:127.0.0.1]:${new URL(sink.url).port}/inbox`],
  ["plain http", () => `http://127.0.0.1:${new URL(sink.url).port}/inbox`],
])("refuses a delivery to %s, without retrying and without a request", async (_what, inbox) => {
  const alice = await createAccount(parley, `a${newId().slice(-8)}`);
  const remoteId = await remoteAt(inbox());
  const chat = await chatTo(parley, alice.token, remoteId);
  const sent = await chat.send("not for a private address");
  expect(sent.status).toBe(200);
  await chat.until(sent.body.id, "failed", 10_000);
  const [row] = await parley.parley.deps.db.$client`
    SELECT d.status, d.attempts, d.last_error FROM deliveries d JOIN message_refs r ON r.message_id = d.message_id WHERE r.id = ${sent.body.id}`;
  expect(row).toMatchObject({ status: "failed", attempts: 1 });
  expect(row.last_error).toMatch(/private_address|invalid_url/);
  expect(sink.received).toHaveLength(0);
});
