import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { openStream, type StreamClient, streamingUrl, subscribe } from "./helpers/streaming.js";

/**
 * Streaming bounds per account: at most STREAMING_MAX_PER_ACCOUNT (3 here) sockets in one process
 * — the next is a 429 on the upgrade, or closed with 1008 after `pleroma:authenticate` —, and the
 * sockets of a revoked token or a deleted account close (1000, so clients do not reconnect),
 * others staying open.
 */

let parley: TestParley;
const admin = () => api(parley.url, parley.adminToken);

beforeAll(async () => {
  // A slow LISTEN reconnection leaves room for a revocation nobody hears.
  parley = await startTestParley({
    env: { STREAMING_MAX_PER_ACCOUNT: "3" },
    streamingTuning: { listener: { minBackoffMs: 2_000, maxBackoffMs: 2_000 } },
  });
});
afterAll(() => parley.close());

const byQuery = (token: string) => openStream(streamingUrl(parley.url, { access_token: token }));

/** A token-less socket signed in by message, as Pleroma-FE does; resolves with the answer. */
async function byMessage(token: string): Promise<{ client: StreamClient; result: { result: string; error?: string } }> {
  const client = await openStream(streamingUrl(parley.url));
  client.send({ type: "pleroma:authenticate", token });
  const frame = await client.next((f) => f.event === "pleroma:respond", 5_000, "authenticate answer");
  return { client, result: JSON.parse(frame.payload) };
}

/** Code and reason of the socket's close, within `withinMs`. */
function closeOf(client: StreamClient, withinMs = 5_000): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${withinMs} ms`)), withinMs);
    client.ws.once("close", (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}

const stillOpen = async (client: StreamClient) => {
  expect(client.closed).toBe(false);
  // It still answers: the server kept it.
  expect(await subscribe(client, "user:notification", "subscribe")).toMatchObject({ type: "subscribe" });
};

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it("refuses the upgrade past the cap with 429 too_many_connections; another account and a freed slot are fine", async () => {
  const alice = await createAccount(parley, "capped");
  const bob = await createAccount(parley, "uncapped");
  const open = [await byQuery(alice.token), await byQuery(alice.token), await byQuery(alice.token)];
  await expect(byQuery(alice.token)).rejects.toMatchObject({ status: 429, body: JSON.stringify({ error: "too_many_connections" }) });
  // A bearer header is the same account.
  await expect(openStream(streamingUrl(parley.url), { headers: { authorization: `Bearer ${alice.token}` } })).rejects.toMatchObject({
    status: 429,
  });
  const other = await byQuery(bob.token);

  open[0].close();
  await open[0].whenClosed();
  await pause(100);
  const again = await byQuery(alice.token);
  for (const client of [...open, other, again]) client.close();
});

it("closes a socket signed in by pleroma:authenticate past the cap with 1008, after an error answer", async () => {
  const carol = await createAccount(parley, "bymessage");
  const first = await byMessage(carol.token);
  expect(first.result).toMatchObject({ type: "pleroma:authenticate", result: "success" });
  const open = [first.client, await byQuery(carol.token), await byQuery(carol.token)];
  const { client, result } = await byMessage(carol.token);
  expect(result).toMatchObject({ result: "error", error: "too_many_connections" });
  expect(await closeOf(client)).toEqual({ code: 1008, reason: "too many connections for this account" });
  for (const socket of open) await stillOpen(socket);
  for (const socket of open) socket.close();
});

it("closes the sockets of a revoked token (1000), keeps the account's other tokens' and other accounts' sockets; the token is refused afterwards", async () => {
  const dave = await createAccount(parley, "revoked");
  const second = await admin().post(`/api/v1/admin/accounts/${dave.account.id}/tokens`);
  expect(second.status).toBe(201);
  const erin = await createAccount(parley, "bystander");
  const revokedByQuery = await byQuery(dave.token);
  const revokedByMessage = (await byMessage(dave.token)).client;
  const otherToken = (await byMessage(second.body.access_token)).client;
  const otherAccount = await byQuery(erin.token);
  const closes = [closeOf(revokedByQuery), closeOf(revokedByMessage)];

  expect((await admin().post("/api/v1/admin/tokens/revoke", { token: dave.token })).status).toBe(200);

  for (const close of await Promise.all(closes)) expect(close).toEqual({ code: 1000, reason: "token revoked" });
  await stillOpen(otherToken);
  await stillOpen(otherAccount);
  await expect(byQuery(dave.token)).rejects.toMatchObject({ status: 401 });
  expect((await admin().post("/api/v1/admin/tokens/revoke", { token: dave.token })).status).toBe(404);

  // Every token of the account at once.
  const otherClose = closeOf(otherToken);
  expect((await admin().delete(`/api/v1/admin/accounts/${dave.account.id}/tokens`)).body).toEqual({ revoked: 1 });
  expect(await otherClose).toEqual({ code: 1000, reason: "token revoked" });
  await stillOpen(otherAccount);
  otherAccount.close();
});

it("closes every socket of a deleted account (1000) within seconds; other accounts' stay", async () => {
  const frank = await createAccount(parley, "deleted");
  const grace = await createAccount(parley, "survivor");
  const sockets = [await byQuery(frank.token), (await byMessage(frank.token)).client];
  const survivor = await byQuery(grace.token);
  const closes = sockets.map((socket) => closeOf(socket));

  expect((await admin().delete(`/api/v1/admin/accounts/${frank.account.id}`)).status).toBe(200);

  for (const close of await Promise.all(closes)) expect(close).toEqual({ code: 1000, reason: "account deleted" });
  await stillOpen(survivor);
  survivor.close();
});

it("closes a socket whose token was revoked while the LISTEN connection was away, once it is back", async () => {
  const henry = await createAccount(parley, "unheard");
  const socket = await byQuery(henry.token);
  const close = closeOf(socket, 15_000);
  const sql = parley.parley.deps.db.$client;
  await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'parley-events' AND datname = current_database()`;
  // Its announcement goes to nobody: the listener waits 1–2 s before reconnecting.
  expect((await admin().post("/api/v1/admin/tokens/revoke", { token: henry.token })).status).toBe(200);
  expect(await close).toEqual({ code: 1000, reason: "token revoked" });
});
