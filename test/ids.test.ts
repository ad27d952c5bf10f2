import { chatHelpers } from "./helpers/chats.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Ids clients can order, against an instance: Pleroma-FE keeps the largest message id it has seen
 * by string comparison and gives a message being sent the temporary id `Date.now()`; its loop is
 * played here. The id format itself is tested in test/unit/ids.test.ts.
 */

/**
 * Pleroma-FE's chat loop (src/components/chat/chat.js: startFetching, fetchChat, sendMessage,
 * doSendMessage, readChat; src/services/chat_service/chat_service.js: add, which keeps `maxId` as
 * the string maximum of the ids added — the optimistic message's temporary id included — and
 * leaves it alone for the server's answer to a send, added with `updateMaxId: false`).
 */
describe("Pleroma-FE: optimistic send, mark read with maxId, poll with since_id", () => {
  let parley: TestParley;
  const { account, as, chatWith, send } = chatHelpers(() => parley);
  beforeAll(async () => {
    parley = await startTestParley();
  });
  afterAll(async () => {
    await parley?.close();
  });

  /** chat_service.js's store, reduced to what orders ids: the largest id by string comparison. */
  function chatStore() {
    return {
      maxId: undefined as string | undefined,
      add(messages: { id: string }[], updateMaxId = true) {
        for (const m of messages) if (updateMaxId && (!this.maxId || m.id > this.maxId)) this.maxId = m.id;
      },
    };
  }

  /** sendMessage + doSendMessage: the fake message first, then the server's answer. */
  async function sendOptimistically(store: ReturnType<typeof chatStore>, from: Parameters<typeof as>[0], chatId: string, content: string) {
    const fakeId = String(Date.now());
    store.add([{ id: fakeId }]);
    const sent = await as(from).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content }, { "idempotency-key": `${fakeId}-key` });
    expect(sent.status).toBe(200);
    store.add([sent.body], false);
    return { fakeId, sent: sent.body };
  }

  it("after a send into a chat with messages, maxId stays a real id: read 200, unread 0, the reply appears", async () => {
    const [alice, bob] = await Promise.all([account("alice"), account("bob")]);
    const bobChat = await chatWith(bob, alice);
    await send(bob, bobChat, "hello alice");
    // startFetching: getOrCreateChat, then fetchChat({ isFirstFetch: true }).
    const chatId = await chatWith(alice, bob);
    const store = chatStore();
    const first = await as(alice).get(`/api/v1/pleroma/chats/${chatId}/messages?limit=20`);
    store.add(first.body);
    const { fakeId, sent } = await sendOptimistically(store, alice, chatId, "hi bob");
    expect(store.maxId).not.toBe(fakeId);
    expect(store.maxId! > fakeId).toBe(true);
    expect(sent.id > fakeId).toBe(true);

    // readChat: last_read_id is maxId.
    const read = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/read`, { last_read_id: store.maxId });
    expect(read.status).toBe(200);
    expect(read.body.unread).toBe(0);

    // fetchChat({ fetchLatest: true }) every 5 s: since_id is maxId.
    await send(bob, bobChat, "how are you?");
    const latest = await as(alice).get(`/api/v1/pleroma/chats/${chatId}/messages?since_id=${store.maxId}&limit=20`);
    expect(latest.status).toBe(200);
    const contents = latest.body.map((m: { content: string }) => m.content);
    expect(contents).toContain("how are you?");
    store.add(latest.body);
    const again = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/read`, { last_read_id: store.maxId });
    expect(again.body.unread).toBe(0);
  });

  it("after the first message of an empty chat, maxId is the temporary id: read 200, the poll still brings the reply", async () => {
    const [carol, dave] = await Promise.all([account("carol"), account("dave")]);
    const chatId = await chatWith(carol, dave);
    const store = chatStore();
    store.add((await as(carol).get(`/api/v1/pleroma/chats/${chatId}/messages?limit=20`)).body);
    const { fakeId } = await sendOptimistically(store, carol, chatId, "first words");
    // Nothing real was there to sort above it: Pleroma-FE keeps the temporary id until a fetch.
    expect(store.maxId).toBe(fakeId);
    const read = await as(carol).post(`/api/v1/pleroma/chats/${chatId}/read`, { last_read_id: store.maxId });
    expect(read.status).toBe(200);
    expect(read.body.id).toBe(chatId);

    const daveChat = await chatWith(dave, carol);
    await send(dave, daveChat, "welcome");
    const latest = await as(carol).get(`/api/v1/pleroma/chats/${chatId}/messages?since_id=${store.maxId}&limit=20`);
    expect(latest.body.map((m: { content: string }) => m.content)).toEqual(["welcome", "first words"]);
    store.add(latest.body);
    expect(store.maxId).toBe(latest.body[0].id);
    const marked = await as(carol).post(`/api/v1/pleroma/chats/${chatId}/read`, { last_read_id: store.maxId });
    expect(marked.body.unread).toBe(0);
    // A temporary id as max_id sorts below every message: nothing older than it.
    expect((await as(carol).get(`/api/v1/pleroma/chats/${chatId}/messages?max_id=${fakeId}`)).body).toEqual([]);
  });

  it("a malformed last_read_id is still a 404", async () => {
    const [erin, frank] = await Promise.all([account("erin"), account("frank")]);
    const chatId = await chatWith(erin, frank);
    for (const bad of ["not-an-id", "12ab", "1".repeat(21)]) {
      expect((await as(erin).post(`/api/v1/pleroma/chats/${chatId}/read`, { last_read_id: bad })).status).toBe(404);
    }
  });
});
