import { connect } from "../src/db/database.js";
import { applyInboxActivity } from "../src/federation/inbox/apply-activities.js";
import { pleromaChatMessage } from "./helpers/inbox.js";
import { createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";

/**
 * Regression: applying an inbound message must not query the pool while its transaction holds a
 * connection. It did (the recipient lookup), and once every pooled connection was held by such a
 * transaction the process deadlocked (found by `npm run bench -- inbox` at 64 requests in flight).
 * A pool of ONE connection makes the mistake a certain hang instead of a load-dependent one.
 */

let parley: TestParley;
let remote: RemoteServer;

beforeAll(async () => {
  // Web only: the job waits in the queue and the test applies the row itself.
  [parley, remote] = await Promise.all([startTestParley({ queue: "postgres", role: "web" }), startRemoteServer()]);
});
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close()]);
});

it("applies an inbound ChatMessage with a pool of one connection", async () => {
  await createAccount(parley, "bob");
  const sender = remote.actor("sender", { capabilities: { acceptsChatMessages: true } });
  const response = await signedPost(`${parley.url}/inbox`, pleromaChatMessage(sender, `${parley.url}/users/bob`), sender);
  expect(response.status).toBe(202);
  const [row] = await parley.parley.deps.db.$client`SELECT id FROM inbox_activities WHERE status = 'pending'`;

  const onePool = connect(parley.databaseUrl, { max: 1 });
  try {
    const outcome = await applyInboxActivity({ ...parley.parley.deps, db: onePool }, row.id, { lastAttempt: false });
    expect(outcome).toMatchObject({ status: "applied" });
  } finally {
    await onePool.$client.end({ timeout: 5 });
  }
  const [applied] = await parley.parley.deps.db.$client`SELECT status FROM inbox_activities WHERE id = ${row.id}`;
  expect(applied.status).toBe("applied");
}, 15_000);
