import { chatTo, FAST_DELIVERY, insertRemoteAccount } from "./helpers/delivery.js";
import { type InboxSink, startInboxSink } from "./helpers/inbox-sink.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/** Admin deletion of a local account: everything of it goes, the actor is a tombstone, peers are told. */

let parley: TestParley;
let sink: InboxSink;

beforeAll(async () => {
  [parley, sink] = await Promise.all([startTestParley({ queue: "redis", deliveryTuning: FAST_DELIVERY }), startInboxSink()]);
});
afterAll(async () => {
  await Promise.all([parley?.close(), sink?.close()]);
});

it("removes the account's chats on both sides, tombstones the actor and federates Delete of the actor once per server", async () => {
  const alice = await createAccount(parley, "alice");
  const carol = await createAccount(parley, "carol");
  const [bob, dave] = [await insertRemoteAccount(parley, sink), await insertRemoteAccount(parley, sink)];
  for (const remote of [bob, dave]) await (await chatTo(parley, alice.token, remote.id)).send("hi");
  const withCarol = await api(parley.url, alice.token).post(`/api/v1/pleroma/chats/by-account-id/${carol.account.id}`);
  await api(parley.url, alice.token).post(`/api/v1/pleroma/chats/${withCarol.body.id}/messages`, { content: "hi carol" });
  expect((await api(parley.url, carol.token).get("/api/v1/pleroma/chats")).body).toHaveLength(1);
  await sink.waitFor(2);

  const deleted = await api(parley.url, parley.adminToken).delete(`/api/v1/admin/accounts/${alice.account.id}`);
  expect(deleted.status).toBe(200);

  // Both remote peers share the sink's shared inbox: one Delete for that server.
  const [, , deletion] = await sink.waitFor(3);
  const actorUri = `${parley.url}/users/alice`;
  expect(deletion.activity).toMatchObject({ type: "Delete", actor: actorUri, object: actorUri });
  expect(deletion.signature.keyId).toBe(`${actorUri}#main-key`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(sink.received.filter((r) => r.activity?.type === "Delete")).toHaveLength(1);

  // Gone for everyone: carol's side of the chat, the token, the account, the actor and the name.
  expect((await api(parley.url, carol.token).get("/api/v1/pleroma/chats")).body).toEqual([]);
  expect((await api(parley.url, alice.token).get("/api/v1/accounts/verify_credentials")).status).toBe(401);
  expect((await api(parley.url, carol.token).get(`/api/v1/accounts/${alice.account.id}`)).status).toBe(404);
  expect((await fetch(actorUri, { headers: { accept: "application/activity+json" } })).status).toBe(410);
  const host = new URL(parley.url).host;
  expect((await fetch(`${parley.url}/.well-known/webfinger?resource=acct:alice@${host}`)).status).toBe(404);
  const again = await api(parley.url, parley.adminToken).post("/api/v1/admin/accounts", { username: "alice" });
  expect(again.status).toBe(409);
  expect((await api(parley.url, parley.adminToken).delete(`/api/v1/admin/accounts/${alice.account.id}`)).status).toBe(404);
  const [counts] = await parley.parley.deps.db.$client`
    SELECT (SELECT count(*)::int FROM chats) AS chats, (SELECT count(*)::int FROM messages) AS messages`;
  expect(counts).toEqual({ chats: 0, messages: 0 });
});
