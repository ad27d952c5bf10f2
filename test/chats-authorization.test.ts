import { type Account, chatHelpers } from "./helpers/chats.js";
import { api, startTestParley, type TestParley } from "./helpers/parley.js";

/** Authorization on every chat endpoint: another account's ids, malformed ids, missing tokens. */

let parley: TestParley;
const { account, as, chatWith, send } = chatHelpers(() => parley);

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
});
afterAll(() => parley.close());

describe("authorization", () => {
  let alice: Account;
  let carolChat: string;
  let carolMessage: string;
  let aliceChat: string;
  let aliceMessage: string;
  beforeAll(async () => {
    alice = await account("alice");
    const [carol, dave] = [await account("carol"), await account("dave")];
    carolChat = await chatWith(carol, dave);
    carolMessage = (await send(carol, carolChat, "private")).id;
    aliceChat = await chatWith(alice, dave);
    aliceMessage = (await send(alice, aliceChat, "mine")).id;
  });

  const endpoints = (chat: string, message: string): [string, string, unknown?][] => [
    ["get", `/api/v1/pleroma/chats/${chat}`],
    ["delete", `/api/v1/pleroma/chats/${chat}`],
    ["get", `/api/v1/pleroma/chats/${chat}/messages`],
    ["post", `/api/v1/pleroma/chats/${chat}/messages`, { content: "intrusion" }],
    ["put", `/api/v1/pleroma/chats/${chat}/messages/${message}`, { content: "edited" }],
    ["delete", `/api/v1/pleroma/chats/${chat}/messages/${message}`],
    ["post", `/api/v1/pleroma/chats/${chat}/read`, {}],
    ["post", `/api/v1/pleroma/chats/${chat}/messages/${message}/read`],
  ];
  /** The endpoints that name a message. */
  const messageEndpoints = (chat: string, message: string) => endpoints(chat, message).filter(([, path]) => path.includes("/messages/"));
  const call = (who: Account | undefined, [method, path, body]: [string, string, unknown?]) => {
    const client = api(parley.url, who?.token) as any;
    return method === "get" || method === "delete" ? client[method](path) : client[method](path, body);
  };

  it("answers 404 on every endpoint for another account's chat and message", async () => {
    for (const endpoint of endpoints(carolChat, carolMessage)) {
      const response = await call(alice, endpoint);
      expect([endpoint[0], endpoint[1], response.status, response.body]).toEqual([endpoint[0], endpoint[1], 404, { error: "not_found" }]);
    }
    // The own chat with another chat's message id is a 404 too.
    for (const endpoint of messageEndpoints(aliceChat, carolMessage)) {
      const response = await call(alice, endpoint);
      expect([endpoint[0], endpoint[1], response.status]).toEqual([endpoint[0], endpoint[1], 404]);
    }
    // Nothing changed on carol's side.
    const sql = parley.parley.deps.db.$client;
    const [row] =
      await sql`SELECT content, edited_at, deleted_at FROM messages m JOIN message_refs r ON r.message_id = m.id WHERE r.id = ${carolMessage}`;
    expect(row).toEqual({ content: "private", edited_at: null, deleted_at: null });
  });

  it.each(["nope", "01JZZZZZZZZZZZZZZZZZZZZZZZ", "01jzzzzzzzzzzzzzzzzzzzzzzz", "1%20OR%201=1", "%E2%9C%93", "x".repeat(300)])(
    "answers 404, never 500, for malformed or unknown id %j",
    async (bad) => {
      for (const endpoint of [...endpoints(bad, aliceMessage), ...messageEndpoints(aliceChat, bad)]) {
        const response = await call(alice, endpoint);
        expect([endpoint[0], endpoint[1], response.status]).toEqual([endpoint[0], endpoint[1], 404]);
      }
    },
  );

  it("answers 404 for a malformed last_read_id", async () => {
    const response = await as(alice).post(`/api/v1/pleroma/chats/${aliceChat}/read`, { last_read_id: "nope" });
    expect(response.status).toBe(404);
  });

  it("answers 401 without a token or with a bad one on every endpoint", async () => {
    const all: [string, string, unknown?][] = [
      ["post", `/api/v1/pleroma/chats/by-account-id/${alice.account.id}`],
      ["get", "/api/v1/pleroma/chats"],
      ["get", "/api/v2/pleroma/chats"],
      ...endpoints(aliceChat, aliceMessage),
    ];
    for (const endpoint of all) {
      const response = await call(undefined, endpoint);
      expect([endpoint[1], response.status, response.body]).toEqual([endpoint[1], 401, { error: "missing_token" }]);
      const bad = await call({ token: "bad" } as Account, endpoint);
      expect([endpoint[1], bad.status]).toEqual([endpoint[1], 401]);
    }
    // A multipart body without a token is refused as unauthenticated, not parsed.
    const form = new FormData();
    form.append("file", new Blob(["x"]), "x.txt");
    const multipart = await api(parley.url).post(`/api/v1/pleroma/chats/${aliceChat}/messages`, form);
    expect(multipart.status).toBe(401);
    // Alice's message is untouched.
    const messages = await as(alice).get(`/api/v1/pleroma/chats/${aliceChat}/messages`);
    expect(messages.body.map((m: any) => [m.id, m.content])).toEqual([[aliceMessage, "mine"]]);
  });
});
