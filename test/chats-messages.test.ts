import { type Account, chatHelpers } from "./helpers/chats.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";

/** Sending (body formats, Idempotency-Key), editing, deleting, reading, hiding, and the unread counters. */

let parley: TestParley;
const { account, as, chatWith, send } = chatHelpers(() => parley);
const chat = async (who: Account, chatId: string) => (await as(who).get(`/api/v1/pleroma/chats/${chatId}`)).body;
const messages = async (who: Account, chatId: string) => (await as(who).get(`/api/v1/pleroma/chats/${chatId}/messages`)).body as any[];
const listed = async (who: Account) => ((await as(who).get("/api/v1/pleroma/chats")).body as any[]).map((c) => c.id);

/** Alice and Bob with one chat each side (bob's created by alice's first message when `hello`). */
async function conversation() {
  const [alice, bob] = [await account("alice"), await account("bob")];
  const aliceChat = await chatWith(alice, bob);
  const bobChat = await chatWith(bob, alice);
  return { alice, bob, aliceChat, bobChat };
}

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
});
afterAll(() => parley.close());

describe("request bodies", () => {
  it("accepts JSON, form and multipart bodies", async () => {
    const { alice, bob, aliceChat, bobChat } = await conversation();
    const json = await as(alice).post(`/api/v1/pleroma/chats/${aliceChat}/messages`, { content: "from json" });
    const form = await as(alice).post(
      `/api/v1/pleroma/chats/${aliceChat}/messages`,
      new URLSearchParams({ content: "from a form & more" }),
    );
    const multipart = new FormData();
    multipart.append("content", "from multipart <b>");
    const parts = await as(alice).post(`/api/v1/pleroma/chats/${aliceChat}/messages`, multipart);
    expect([json.status, form.status, parts.status]).toEqual([200, 200, 200]);
    expect([json.body.content, form.body.content, parts.body.content]).toEqual([
      "from json",
      "from a form &amp; more",
      "from multipart &lt;b&gt;",
    ]);
    expect((await messages(bob, bobChat)).map((m) => m.content)).toEqual([
      "from multipart &lt;b&gt;",
      "from a form &amp; more",
      "from json",
    ]);

    const emptyForm = await as(alice).post(`/api/v1/pleroma/chats/${aliceChat}/messages`, new FormData());
    expect(emptyForm.status).toBe(400);
    expect(emptyForm.body).toEqual({ error: "no_content" });
    const withFile = new FormData();
    withFile.append("content", "x");
    withFile.append("file", new Blob(["x"]), "x.txt");
    expect((await as(alice).post(`/api/v1/pleroma/chats/${aliceChat}/messages`, withFile)).status).toBe(400);

    // Read and edit take form bodies too.
    const edited = await as(alice).put(
      `/api/v1/pleroma/chats/${aliceChat}/messages/${json.body.id}`,
      new URLSearchParams({ content: "edited by form" }),
    );
    expect(edited.body.content).toBe("edited by form");
    const [, , oldest] = await messages(bob, bobChat);
    const read = await as(bob).post(`/api/v1/pleroma/chats/${bobChat}/read`, new URLSearchParams({ last_read_id: oldest.id }));
    expect(read.body.unread).toBe(2);
  });
});

describe("Idempotency-Key", () => {
  it("replays the identical first response without a second message", async () => {
    const { alice, bob, aliceChat, bobChat } = await conversation();
    const post = (content: string) =>
      fetch(`${parley.url}/api/v1/pleroma/chats/${aliceChat}/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/json", "idempotency-key": "key-1" },
        body: JSON.stringify({ content }),
      });
    const first = await post("once");
    const firstText = await first.text();
    expect(first.status).toBe(200);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const body = JSON.parse(firstText);
    expect(body).toMatchObject({ content: "once", idempotency_key: "key-1", account_id: alice.account.id, unread: false });

    const replay = await post("once");
    expect(replay.status).toBe(200);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.headers.get("idempotency-key")).toBe("key-1");
    expect(await replay.text()).toBe(firstText);
    // Even with another content, the key wins: the first response comes back.
    expect(await (await post("twice")).text()).toBe(firstText);
    expect(await (await post("x".repeat(6000))).text()).toBe(firstText);

    expect((await messages(alice, aliceChat)).map((m) => m.id)).toEqual([body.id]);
    const [bobView] = await messages(bob, bobChat);
    expect(bobView.content).toBe("once");
    expect(bobView).not.toHaveProperty("idempotency_key");
    expect((await chat(bob, bobChat)).unread).toBe(1);
    expect((await chat(bob, bobChat)).last_message).not.toHaveProperty("idempotency_key");
    expect((await chat(alice, aliceChat)).last_message.idempotency_key).toBe("key-1");
    expect((await messages(alice, aliceChat))[0].idempotency_key).toBe("key-1");
  });

  it("is scoped per account", async () => {
    const { alice, bob, aliceChat, bobChat } = await conversation();
    const headers = { "idempotency-key": "shared-key" };
    const fromAlice = await as(alice).post(`/api/v1/pleroma/chats/${aliceChat}/messages`, { content: "a" }, headers);
    const fromBob = await as(bob).post(`/api/v1/pleroma/chats/${bobChat}/messages`, { content: "b" }, headers);
    expect(fromBob.headers.get("idempotent-replayed")).toBeNull();
    expect(fromBob.body).toMatchObject({ content: "b", account_id: bob.account.id, idempotency_key: "shared-key" });
    expect(fromBob.body.id).not.toBe(fromAlice.body.id);
    expect((await messages(alice, aliceChat)).map((m) => m.content)).toEqual(["b", "a"]);
  });

  it("creates exactly one message for concurrent requests with one key", async () => {
    const { alice, bob, aliceChat, bobChat } = await conversation();
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        as(alice).post(`/api/v1/pleroma/chats/${aliceChat}/messages`, { content: "race" }, { "idempotency-key": "race" }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
    expect(responses.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(7);
    expect(await messages(alice, aliceChat)).toHaveLength(1);
    expect((await chat(bob, bobChat)).unread).toBe(1);
  });

  it("refuses a key longer than 256 characters, naming the header", async () => {
    const { alice, aliceChat } = await conversation();
    const response = await as(alice).post(
      `/api/v1/pleroma/chats/${aliceChat}/messages`,
      { content: "x" },
      { "idempotency-key": "k".repeat(257) },
    );
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: "invalid_request", field: "Idempotency-Key" });
    expect(await messages(alice, aliceChat)).toEqual([]);
  });

  it("does not keep the key of a refused request", async () => {
    const { alice, aliceChat } = await conversation();
    const headers = { "idempotency-key": "retry-me" };
    expect((await as(alice).post(`/api/v1/pleroma/chats/${aliceChat}/messages`, { content: "" }, headers)).status).toBe(400);
    const retry = await as(alice).post(`/api/v1/pleroma/chats/${aliceChat}/messages`, { content: "now" }, headers);
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
    expect(retry.body.content).toBe("now");
  });
});

describe("edit", () => {
  it("replaces the content for both sides and sets edited_at", async () => {
    const { alice, bob, aliceChat, bobChat } = await conversation();
    const sent = await send(alice, aliceChat, "typo");
    expect(sent).not.toHaveProperty("edited_at");
    const edited = await as(alice).put(`/api/v1/pleroma/chats/${aliceChat}/messages/${sent.id}`, { content: "fixed <i>" });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ id: sent.id, chat_id: aliceChat, content: "fixed &lt;i&gt;", created_at: sent.created_at });
    expect(Date.parse(edited.body.edited_at)).toBeGreaterThanOrEqual(Date.parse(sent.created_at));
    const [bobView] = await messages(bob, bobChat);
    expect(bobView).toMatchObject({ content: "fixed &lt;i&gt;", edited_at: edited.body.edited_at, unread: true });
    expect((await chat(bob, bobChat)).last_message.content).toBe("fixed &lt;i&gt;");
    expect((await messages(alice, aliceChat))[0].content).toBe("fixed &lt;i&gt;");

    const blank = await as(alice).put(`/api/v1/pleroma/chats/${aliceChat}/messages/${sent.id}`, { content: " " });
    expect(blank.status).toBe(400);
    expect(blank.body).toEqual({ error: "no_content" });
    const missing = await as(alice).put(`/api/v1/pleroma/chats/${aliceChat}/messages/${sent.id}`, {});
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ error: "no_content" });
    const long = await as(alice).put(`/api/v1/pleroma/chats/${aliceChat}/messages/${sent.id}`, { content: "x".repeat(5001) });
    expect(long.status).toBe(422);
    expect(long.body).toMatchObject({ error: "content_too_long" });
  });

  it("refuses another's message with 403 not_author", async () => {
    const { alice, bob, aliceChat, bobChat } = await conversation();
    await send(alice, aliceChat, "mine");
    const [bobView] = await messages(bob, bobChat);
    const refused = await as(bob).put(`/api/v1/pleroma/chats/${bobChat}/messages/${bobView.id}`, { content: "hacked" });
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({ error: "not_author" });
    // Whatever the content: authorship is checked first.
    for (const content of ["", "x".repeat(5001)]) {
      const response = await as(bob).put(`/api/v1/pleroma/chats/${bobChat}/messages/${bobView.id}`, { content });
      expect(response.status).toBe(403);
    }
    expect((await messages(alice, aliceChat))[0].content).toBe("mine");
  });
});

describe("delete", () => {
  it("deletes an own message for both sides, fixing unread and last_message", async () => {
    const { alice, bob, aliceChat, bobChat } = await conversation();
    const first = await send(alice, aliceChat, "first");
    const second = await send(alice, aliceChat, "second");
    expect((await chat(bob, bobChat)).unread).toBe(2);
    const deleted = await as(alice).delete(`/api/v1/pleroma/chats/${aliceChat}/messages/${second.id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual(second);
    expect((await messages(alice, aliceChat)).map((m) => m.id)).toEqual([first.id]);
    expect((await messages(bob, bobChat)).map((m) => m.content)).toEqual(["first"]);
    const bobView = await chat(bob, bobChat);
    expect(bobView.unread).toBe(1);
    expect(bobView.last_message.content).toBe("first");
    expect((await chat(alice, aliceChat)).last_message.id).toBe(first.id);
    expect((await as(alice).delete(`/api/v1/pleroma/chats/${aliceChat}/messages/${second.id}`)).status).toBe(404);
    expect((await as(alice).put(`/api/v1/pleroma/chats/${aliceChat}/messages/${second.id}`, { content: "x" })).status).toBe(404);

    // A read message leaves the counter alone; the last one leaves last_message null.
    await as(bob).post(`/api/v1/pleroma/chats/${bobChat}/read`);
    await as(alice).delete(`/api/v1/pleroma/chats/${aliceChat}/messages/${first.id}`);
    expect(await chat(bob, bobChat)).toMatchObject({ unread: 0, last_message: null });
    expect((await chat(alice, aliceChat)).last_message).toBeNull();
  });

  it("hides another's message only for the deleter", async () => {
    const { alice, bob, aliceChat, bobChat } = await conversation();
    const sent = await send(alice, aliceChat, "keep me");
    const [bobView] = await messages(bob, bobChat);
    const hidden = await as(bob).delete(`/api/v1/pleroma/chats/${bobChat}/messages/${bobView.id}`);
    expect(hidden.status).toBe(200);
    expect(hidden.body).toMatchObject({ id: bobView.id, content: "keep me" });
    expect(await messages(bob, bobChat)).toEqual([]);
    expect(await chat(bob, bobChat)).toMatchObject({ unread: 0, last_message: null });
    expect((await messages(alice, aliceChat)).map((m) => m.id)).toEqual([sent.id]);
    expect((await chat(alice, aliceChat)).last_message.content).toBe("keep me");
  });
});

describe("read", () => {
  it("marks up to last_read_id, then all, returning the Chat", async () => {
    const { alice, bob, aliceChat, bobChat } = await conversation();
    for (const text of ["1", "2", "3", "4"]) await send(alice, aliceChat, text);
    const views = await messages(bob, bobChat);
    expect(views.map((m) => [m.content, m.unread])).toEqual([
      ["4", true],
      ["3", true],
      ["2", true],
      ["1", true],
    ]);
    expect((await chat(bob, bobChat)).unread).toBe(4);

    const partial = await as(bob).post(`/api/v1/pleroma/chats/${bobChat}/read`, { last_read_id: views[2].id });
    expect(partial.status).toBe(200);
    expect(partial.body).toMatchObject({ id: bobChat, unread: 2, account: { id: alice.account.id } });
    expect((await messages(bob, bobChat)).map((m) => m.unread)).toEqual([true, true, false, false]);
    // Reading does not touch the author's side nor reorder chats.
    expect((await messages(alice, aliceChat)).every((m) => m.unread === false)).toBe(true);

    const all = await as(bob).post(`/api/v1/pleroma/chats/${bobChat}/read`);
    expect(all.body.unread).toBe(0);
    expect(all.body.last_message.unread).toBe(false);
    expect((await as(bob).post(`/api/v1/pleroma/chats/${bobChat}/read`)).body.unread).toBe(0);
  });

  it("marks one message read", async () => {
    const { alice, bob, aliceChat, bobChat } = await conversation();
    await send(alice, aliceChat, "a");
    await send(alice, aliceChat, "b");
    const [newest, oldest] = await messages(bob, bobChat);
    const read = await as(bob).post(`/api/v1/pleroma/chats/${bobChat}/messages/${oldest.id}/read`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: oldest.id, chat_id: bobChat, content: "a", unread: false });
    expect((await chat(bob, bobChat)).unread).toBe(1);
    // Twice is harmless.
    await as(bob).post(`/api/v1/pleroma/chats/${bobChat}/messages/${oldest.id}/read`);
    expect((await chat(bob, bobChat)).unread).toBe(1);
    await as(bob).post(`/api/v1/pleroma/chats/${bobChat}/messages/${newest.id}/read`);
    expect((await chat(bob, bobChat)).unread).toBe(0);
  });
});

describe("hide", () => {
  it("hides a chat from both lists, keeps its counter, and a new message unhides it", async () => {
    const { alice, bob, aliceChat, bobChat } = await conversation();
    await send(alice, aliceChat, "one");
    const hidden = await as(bob).delete(`/api/v1/pleroma/chats/${bobChat}`);
    expect(hidden.status).toBe(200);
    expect(hidden.body).toMatchObject({ id: bobChat, unread: 1 });
    expect(await listed(bob)).toEqual([]);
    expect((await as(bob).get("/api/v2/pleroma/chats")).body).toEqual([]);
    expect((await chat(bob, bobChat)).unread).toBe(1);
    expect(await listed(alice)).toEqual([aliceChat]);

    await send(alice, aliceChat, "two");
    expect(await listed(bob)).toEqual([bobChat]);
    expect(await chat(bob, bobChat)).toMatchObject({ unread: 2, last_message: { content: "two" } });

    // Opening the chat again also shows it.
    await as(bob).delete(`/api/v1/pleroma/chats/${bobChat}`);
    expect(await chatWith(bob, alice)).toBe(bobChat);
    expect(await listed(bob)).toEqual([bobChat]);
  });
});

describe("concurrency", () => {
  it("sends from both sides at once without errors, keeping the counters exact", async () => {
    const { alice, bob, aliceChat, bobChat } = await conversation();
    const sends = Array.from({ length: 12 }, (_, i) =>
      i % 2 === 0
        ? as(alice).post(`/api/v1/pleroma/chats/${aliceChat}/messages`, { content: `a${i}` })
        : as(bob).post(`/api/v1/pleroma/chats/${bobChat}/messages`, { content: `b${i}` }),
    );
    const responses = await Promise.all(sends);
    expect(responses.map((r) => r.status)).toEqual(Array(12).fill(200));
    expect((await chat(alice, aliceChat)).unread).toBe(6);
    expect((await chat(bob, bobChat)).unread).toBe(6);
    const aliceView = await as(alice).get(`/api/v1/pleroma/chats/${aliceChat}/messages?limit=40`);
    expect(aliceView.body).toHaveLength(12);
    expect((await chat(alice, aliceChat)).last_message.id).toBe(aliceView.body[0].id);
  });
});
