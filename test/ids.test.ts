import { monotonicFactory, ulid } from "ulid";
import { canonicalCursor } from "../src/http/ids.js";
import { canonicalId, isId, newId } from "../src/shared/ids.js";
import { chatHelpers } from "./helpers/chats.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Ids clients can order (src/shared/ids.ts): fixed length, increasing with time, above every
 * decimal string of up to 16 digits, byte-wise and by (length, string). Pleroma-FE keeps the
 * largest message id it has seen by string comparison and gives a message being sent the
 * temporary id `Date.now()`; its loop is played at the end.
 */

const SHAPE = /^[a-h][0-9a-hjkmnp-tv-z]{25}$/;
/** Byte-wise order, as a C-collated database or a byte comparison sees it. */
const bytewise = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
/** Order by (length, string), as a client that compares numeric ids as numbers would. */
const byLength = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

describe("id format", () => {
  const ids = Array.from({ length: 20_000 }, () => newId());

  it("is 26 characters of the ULID alphabet, first one a letter a–h", () => {
    expect(ids.filter((id) => !SHAPE.test(id))).toEqual([]);
  });

  it("increases strictly, also among ids of the same millisecond", () => {
    const unordered = ids.filter((id, i) => i > 0 && !(id > ids[i - 1] && bytewise(id, ids[i - 1]) === 1));
    expect(unordered).toEqual([]);
    // The first 10 characters are the time: 20,000 ids in a loop share milliseconds.
    const times = new Set(ids.map((id) => id.slice(0, 10)));
    expect(times.size).toBeLessThan(ids.length / 2);
  });

  it("increases with time", async () => {
    const first = newId();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = newId();
    expect(later.slice(0, 10) > first.slice(0, 10)).toBe(true);
  });

  it("sorts above every decimal string of up to 16 digits, byte-wise and by (length, string)", () => {
    const decimals = ["0", "9", "10", "1796276778709", String(Date.now()), String(Date.now() * 1000), "9".repeat(15), "9999999999999999"];
    for (let digits = 1; digits <= 16; digits++) decimals.push("9".repeat(digits), "1".padEnd(digits, "0"));
    for (const id of [ids[0], ids[ids.length - 1], newId()]) {
      for (const decimal of decimals) {
        expect(id > decimal).toBe(true);
        expect(bytewise(id, decimal)).toBe(1);
        expect(byLength(id, decimal)).toBeGreaterThan(0);
      }
    }
    // What a plain ULID did not do (the reason for the letter form).
    expect(ulid().toLowerCase() < String(Date.now())).toBe(true);
  });
});

describe("canonicalId", () => {
  it("maps a legacy id (plain lower-case ULID) to its letter form, keeping order", () => {
    expect(canonicalId("01j9zzzzzzzzzzzzzzzzzzzzzz")).toBe("a1j9zzzzzzzzzzzzzzzzzzzzzz");
    expect(canonicalId("7zzzzzzzzzzzzzzzzzzzzzzzzz")).toBe("hzzzzzzzzzzzzzzzzzzzzzzzzz");
    const legacyUlid = monotonicFactory();
    const legacy = Array.from({ length: 1000 }, () => legacyUlid().toLowerCase());
    const mapped = legacy.map((id) => canonicalId(id)!);
    expect(mapped.filter((id, i) => i > 0 && !(id > mapped[i - 1]))).toEqual([]);
    // A legacy id made before a new one is below it once canonical, as it was in time.
    expect(mapped[mapped.length - 1] < newId()).toBe(true);
  });

  it("keeps a current id, and refuses anything else", () => {
    const id = newId();
    expect(canonicalId(id)).toBe(id);
    expect(canonicalId(canonicalId("01j9zzzzzzzzzzzzzzzzzzzzzz"))).toBe("a1j9zzzzzzzzzzzzzzzzzzzzzz");
    for (const bad of ["", "1796276778709", id.toUpperCase(), id.slice(1), `${id}0`, `8${id.slice(1)}`, `i${id.slice(1)}`, `${id.slice(0, 25)}u`, undefined, 42]) {
      expect(canonicalId(bad)).toBeUndefined();
      expect(isId(bad)).toBe(false);
    }
    expect(isId("01j9zzzzzzzzzzzzzzzzzzzzzz")).toBe(true);
    expect(isId(id)).toBe(true);
  });

  it("canonicalises cursors: ids, v2 chat sort keys; leaves anything else as given", () => {
    expect(canonicalCursor("01j9zzzzzzzzzzzzzzzzzzzzzz")).toBe("a1j9zzzzzzzzzzzzzzzzzzzzzz");
    expect(canonicalCursor("1796276778709123_01j9zzzzzzzzzzzzzzzzzzzzzz")).toBe("1796276778709123_a1j9zzzzzzzzzzzzzzzzzzzzzz");
    for (const kept of ["1796276778709", "a1j9zzzzzzzzzzzzzzzzzzzzzz", "1796276778709123_a1j9zzzzzzzzzzzzzzzzzzzzzz", "nonsense"]) {
      expect(canonicalCursor(kept)).toBe(kept);
    }
  });
});

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
