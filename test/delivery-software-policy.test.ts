import { chatTo, FAST_DELIVERY } from "./helpers/delivery.js";
import { type InboxSink, startInboxSink } from "./helpers/inbox-sink.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteServer, startRemoteServer } from "./helpers/remote.js";

/**
 * Who gets a chat message, as Pleroma decides it: everyone but an actor that says it does not
 * accept chats, and (Parley's addition) a server whose software is known to drop ChatMessage.
 * Each peer is learned the real way: its actor document fetched by URL, its software read from
 * its own nodeinfo; its inboxes are a signature-checking sink.
 */

let parley: TestParley;
let sink: InboxSink;
let alice: Awaited<ReturnType<typeof createAccount>>;
const servers: RemoteServer[] = [];

beforeAll(async () => {
  [parley, sink] = await Promise.all([startTestParley({ deliveryTuning: FAST_DELIVERY }), startInboxSink()]);
  alice = await createAccount(parley, "alice");
});
afterAll(async () => {
  await Promise.all([parley?.close(), sink?.close(), ...servers.map((s) => s.close())]);
});

/**
 * A remote user on a server answering nodeinfo with `software` (none: no nodeinfo at all), whose
 * actor document has `extra`; returns its local account as Parley stored it after a lookup.
 */
async function remoteUser(software: string | null, extra: Record<string, unknown> = {}) {
  const server = await startRemoteServer(software ? { nodeinfo: { software, version: "1.2.3" } } : {});
  servers.push(server);
  const actor = server.actor("someone", {
    inbox: sink.personalInbox("someone"),
    endpoints: { sharedInbox: sink.sharedInbox },
    ...extra,
  });
  const found = await api(parley.url, alice.token).get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(actor.id)}`);
  expect(found.status).toBe(200);
  const [row] = await parley.parley.deps.db.$client`SELECT software, accepts_chat_messages FROM accounts WHERE uri = ${actor.id}`;
  return { id: found.body.id as string, uri: actor.id, row };
}

async function sendsAndArrives(recipient: { id: string; uri: string }, content: string) {
  const chat = await chatTo(parley, alice.token, recipient.id);
  const sent = await chat.send(content);
  expect(sent.status).toBe(200);
  await chat.until(sent.body.id, "delivered");
  const arrived = sink.received.find((r) => r.activity?.object?.content === content);
  expect(arrived).toBeDefined();
  expect(arrived!.signature.verified).toBe(true);
  expect(arrived!.activity).toMatchObject({ type: "Create", to: [recipient.uri], object: { type: "ChatMessage", to: [recipient.uri] } });
}

describe("delivery by the recipient's software", () => {
  it("sends to a server that publishes no nodeinfo (software unknown)", async () => {
    const someone = await remoteUser(null);
    expect(someone.row).toEqual({ software: null, accepts_chat_messages: null });
    await sendsAndArrives(someone, "hello, unknown server");
  });

  it("sends to a Fedify-based server (Hollo: Fedify's actor shape, no capabilities)", async () => {
    const someone = await remoteUser("hollo", {
      "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1", "https://w3id.org/security/data-integrity/v1"],
      manuallyApprovesFollowers: false,
    });
    expect(someone.row).toEqual({ software: "hollo", accepts_chat_messages: null });
    await sendsAndArrives(someone, "hello, hollo");
  });

  it.each(["mastodon", "misskey", "gotosocial", "akkoma"])(
    "refuses a %s user with 422 recipient_cannot_receive_chats, storing nothing",
    async (software) => {
      const someone = await remoteUser(software);
      expect(someone.row).toEqual({ software, accepts_chat_messages: null });
      const chat = await chatTo(parley, alice.token, someone.id);
      const before = sink.received.length;
      const refused = await chat.send(`hello, ${software}`);
      expect(refused.status).toBe(422);
      expect(refused.body).toEqual({ error: "recipient_cannot_receive_chats" });
      expect((await chat.client.get(`/api/v1/pleroma/chats/${chat.chatId}/messages`)).body).toEqual([]);
      const sql = parley.parley.deps.db.$client;
      expect(await sql`SELECT 1 FROM deliveries d JOIN accounts a ON a.id = d.recipient_id WHERE a.uri = ${someone.uri}`).toHaveLength(0);
      expect(sink.received.length).toBe(before);
    },
  );

  it("still refuses an actor of a chat-speaking server that says it does not accept chats", async () => {
    const someone = await remoteUser("pleroma", { capabilities: { acceptsChatMessages: false } });
    const chat = await chatTo(parley, alice.token, someone.id);
    const refused = await chat.send("hello?");
    expect(refused.status).toBe(422);
    expect(refused.body).toEqual({ error: "recipient_does_not_accept_chats" });
  });
});
