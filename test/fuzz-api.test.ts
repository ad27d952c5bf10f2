import fc from "fast-check";
import { png } from "./helpers/media.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Property-based fuzzing of the user API (issue 7): malformed requests on every chat,
 * notification, media and account endpoint and every parameter. Per request:
 *  - never a 5xx, and the process keeps answering (/healthz);
 *  - an error body is `{"error": code, …}`; a 400 `invalid_request` names the `field` (docs/api.md);
 *  - a refused request (4xx) writes nothing: a fingerprint (row count and md5 of every row) of
 *    every table of the database is the same before and after.
 * Fixed seed; fast-check prints the seed and the counterexample on failure.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 0xa91f22);
const NUM_RUNS = Number(process.env.FUZZ_RUNS ?? 400);

let parley: TestParley;
let alice: { account: { id: string }; token: string };
let bob: { account: { id: string }; token: string };
const ids: Record<string, string> = {};

beforeAll(async () => {
  parley = await startTestParley();
  alice = await createAccount(parley, "alice");
  bob = await createAccount(parley, "bob");
  const a = api(parley.url, alice.token);
  const b = api(parley.url, bob.token);
  const chat = await a.post(`/api/v1/pleroma/chats/by-account-id/${bob.account.id}`);
  expect(chat.status).toBe(200);
  ids.chat = chat.body.id;
  const sent = await a.post(`/api/v1/pleroma/chats/${ids.chat}/messages`, { content: "hello" });
  expect(sent.status).toBe(200);
  ids.message = sent.body.id;
  const bobChat = await b.post(`/api/v1/pleroma/chats/by-account-id/${alice.account.id}`);
  const reply = await b.post(`/api/v1/pleroma/chats/${bobChat.body.id}/messages`, { content: "hi alice" });
  expect(reply.status).toBe(200);
  ids.bobMessage = reply.body.id;
  ids.bobChat = bobChat.body.id;
  const form = new FormData();
  form.append("file", new Blob([new Uint8Array(png())], { type: "image/png" }), "a.png");
  const media = await a.post("/api/v1/media", form);
  expect(media.status).toBe(200);
  ids.media = media.body.id;
  const notes = await a.get("/api/v1/notifications?include_types[]=pleroma:chat_mention");
  expect(notes.body.length).toBeGreaterThan(0);
  ids.notification = notes.body[0].id;
  // bob's own upload: another account's id
  const bobMedia = await b.post("/api/v1/media", form);
  ids.bobMedia = bobMedia.body.id;
}, 60_000);
afterAll(async () => {
  await parley?.close();
});

// ---------------------------------------------------------------------------------------------

/** Every table's row count and a digest of its rows: any write shows. */
async function fingerprint(): Promise<Record<string, string>> {
  const sql = parley.parley.deps.db.$client;
  const tables = await sql<{ name: string }[]>`SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name
    FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
    ORDER BY 1`;
  const parts = tables.map(
    (t) =>
      `SELECT '${t.name.replace(/'/g, "''")}' AS name, count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') AS print FROM ${t.name} x`,
  );
  if (parts.length === 0) return {};
  const rows = await sql.unsafe<{ name: string; print: string }[]>(parts.join(" UNION ALL "));
  return Object.fromEntries(rows.map((r) => [r.name, r.print]));
}

/** Tables that change on their own (queue backends, caches), not because of a request. */
const BACKGROUND = /bullmq|pgboss|graphile|queue|job|kv|cache|metric|lock/i;
const stable = (print: Record<string, string>) => Object.fromEntries(Object.entries(print).filter(([name]) => !BACKGROUND.test(name)));

// ---------------------------------------------------------------------------------------------
// Generators.

/** Ids that are not ids (or are someone else's). */
const badId = fc.oneof(
  fc.constantFrom(
    "",
    "0",
    "-1",
    "1.5",
    "1e309",
    "NaN",
    "null",
    "undefined",
    "[]",
    "{}",
    "%00",
    "a%00b",
    "%E0%A4%A",
    "%",
    "%2F..%2F",
    "..",
    "%20",
    "' OR '1'='1",
    "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "01arz3ndektsv4rrffq69g5fa",
    "01arz3ndektsv4rrffq69g5favv",
    "01arz3ndektsv4rrffq69g5fau",
    "%F0%9F%98%80",
    "%EF%BF%BF",
    "%ED%A0%80",
    "x".repeat(5000),
  ),
  fc.constantFrom("other-chat", "other-message", "other-media", "own-notification-as-chat", "own-message-as-chat", "own-chat-as-message"),
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
  fc.integer().map(String),
  fc.double().map(String),
);

const idValue = (id: string) =>
  ({
    "other-chat": ids.bobChat,
    "other-message": ids.bobMessage,
    "other-media": ids.bobMedia,
    "own-notification-as-chat": ids.notification,
    "own-message-as-chat": ids.message,
    "own-chat-as-message": ids.chat,
  })[id] ?? id;

const limitValue = fc.oneof(
  fc.constantFrom(
    "",
    "-1",
    "0",
    "1.5",
    "41",
    "1e309",
    "-1e309",
    "99999999999999999999999",
    "NaN",
    "Infinity",
    "abc",
    "0x10",
    " 5",
    "5 ",
    "1,2",
    "١٢",
    "%00",
    "true",
  ),
  fc.integer().map(String),
  fc.double().map(String),
);

/** A query string of pagination and listing parameters, some repeated (arrays), some hostile. */
const queryString = fc
  .array(
    fc.tuple(
      fc.constantFrom(
        "limit",
        "max_id",
        "min_id",
        "since_id",
        "with_muted",
        "include_types[]",
        "types[]",
        "exclude_types[]",
        "include_types",
        "account_id",
        "acct",
        "limit[]",
        "max_id[a]",
        "with_muted[]",
        "unknown",
      ),
      fc.oneof(limitValue, badId, fc.constantFrom("true", "false", "1", "0", "yes", "pleroma:chat_mention", "mention")),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k).replace(/%5B/g, "[").replace(/%5D/g, "]")}=${v}`).join("&"));

/** Hostile values for a JSON body field. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    1e308,
    [],
    {},
    [""],
    ["a", "b"],
    { a: 1 },
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\ud800",
    "\u202eRTL",
    "\u200b",
    "😀".repeat(3000),
    "x".repeat(6000),
    "<script>alert(1)</script>",
  ),
  fc.string({ unit: "grapheme", maxLength: 50 }),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.integer(),
);

const bodyFields = [
  "content",
  "media_id",
  "media_ids",
  "last_read_id",
  "id",
  "max_id",
  "display_name",
  "accepts_chat_messages",
  "description",
  "focus",
  "unknown",
];

/** A body: JSON of hostile fields, raw broken JSON, a form, a multipart form, or a wrong content type. */
const requestBody = fc.oneof(
  fc.constant(undefined),
  fc
    .dictionary(fc.constantFrom(...bodyFields), fieldValue, { maxKeys: 3 })
    .map((o) => ({ type: "application/json", text: JSON.stringify(o) })),
  fc
    .constantFrom(
      "{",
      "[",
      "null",
      "[]",
      '"x"',
      "1",
      '{"content":}',
      '{"content":"a","content":{}}',
      "\u0000",
      '{"__proto__":{"x":1}}',
      '{"constructor":{"prototype":{}}}',
      "[".repeat(3000) + "]".repeat(3000),
    )
    .map((text) => ({ type: "application/json", text })),
  fc
    .array(fc.tuple(fc.constantFrom(...bodyFields, "content[]", "content[a]", "media_id[]", "media_ids[]"), fc.string({ maxLength: 20 })), {
      maxLength: 3,
    })
    .map((pairs) => ({
      type: "application/x-www-form-urlencoded",
      text: pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&"),
    })),
  fc.record({ content: fieldValue, boundary: fc.constantFrom("xyz", "", "a".repeat(100)) }).map(({ content, boundary }) => ({
    type: `multipart/form-data; boundary=${boundary || "missing"}`,
    text: `--xyz\r\nContent-Disposition: form-data; name="content"\r\n\r\n${String(content)}\r\n--xyz--\r\n`,
  })),
  fc
    .constantFrom(
      "text/plain",
      "application/xml",
      "application/json; charset=utf-16",
      "multipart/form-data",
      "application/octet-stream",
      "application/activity+json",
    )
    .map((type) => ({ type, text: '{"content":"x"}' })),
);

const headerValue = fc.oneof(
  fc.constantFrom("", " ", "x".repeat(257), "x".repeat(8000), "é", "\u00ff".repeat(300), "a b", "key", "caf\u00e9 \u00bfqu\u00e9?"),
  fc.string({ unit: "binary-ascii", maxLength: 300 }).map((s) => s.replace(/[\u0000-\u001f\u007f]/g, "")),
);

interface Endpoint {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
}

const endpoints: Endpoint[] = [
  { method: "POST", path: "/api/v1/pleroma/chats/by-account-id/:account_id" },
  { method: "GET", path: "/api/v1/pleroma/chats" },
  { method: "GET", path: "/api/v2/pleroma/chats" },
  { method: "GET", path: "/api/v1/pleroma/chats/:chat" },
  { method: "DELETE", path: "/api/v1/pleroma/chats/:chat" },
  { method: "GET", path: "/api/v1/pleroma/chats/:chat/messages" },
  { method: "POST", path: "/api/v1/pleroma/chats/:chat/messages" },
  { method: "PUT", path: "/api/v1/pleroma/chats/:chat/messages/:message" },
  { method: "DELETE", path: "/api/v1/pleroma/chats/:chat/messages/:message" },
  { method: "POST", path: "/api/v1/pleroma/chats/:chat/read" },
  { method: "POST", path: "/api/v1/pleroma/chats/:chat/messages/:message/read" },
  { method: "POST", path: "/api/v1/pleroma/chats/:chat/pin" },
  { method: "POST", path: "/api/v1/pleroma/chats/:chat/unpin" },
  // Pleroma's legacy spelling of the same routes.
  { method: "POST", path: "/api/pleroma/chats/:chat/messages" },
  { method: "GET", path: "/api/v1/notifications" },
  { method: "GET", path: "/api/v1/notifications/:notification" },
  { method: "POST", path: "/api/v1/notifications/:notification/dismiss" },
  { method: "POST", path: "/api/v1/pleroma/notifications/read" },
  { method: "POST", path: "/api/v1/media" },
  { method: "POST", path: "/api/v2/media" },
  { method: "GET", path: "/api/v1/media/:media" },
  { method: "PUT", path: "/api/v1/media/:media" },
  { method: "GET", path: "/api/v1/accounts/verify_credentials" },
  { method: "PATCH", path: "/api/v1/accounts/update_credentials" },
  { method: "GET", path: "/api/v1/accounts/lookup" },
  { method: "GET", path: "/api/v1/accounts/:account_id" },
  { method: "POST", path: "/api/v1/accounts/:account_id/block" },
  { method: "POST", path: "/api/v1/accounts/:account_id/unblock" },
  { method: "POST", path: "/api/v1/accounts/:account_id/mute" },
  { method: "POST", path: "/api/v1/accounts/:account_id/unmute" },
  { method: "GET", path: "/api/v1/custom_emojis" },
];

/** Each path segment `:x` valid (own) or one of the bad ids; each request its own mix. */
const apiCase = fc.record({
  endpoint: fc.constantFrom(...endpoints),
  segments: fc.array(fc.oneof({ weight: 1, arbitrary: fc.constant("valid") }, { weight: 3, arbitrary: badId }), {
    minLength: 2,
    maxLength: 2,
  }),
  query: fc.oneof(fc.constant(""), queryString),
  body: requestBody,
  idempotencyKey: fc.option(headerValue, { nil: undefined }),
  auth: fc.constantFrom("alice", "alice", "alice", "alice", "none", "bad", "Bearer", "Basic"),
  overrideMethod: fc.option(fc.constantFrom("PATCH", "PUT", "HEAD", "OPTIONS"), { freq: 10, nil: undefined }),
});

function validFor(segment: string): string {
  return (
    {
      ":chat": ids.chat,
      ":message": ids.message,
      ":notification": ids.notification,
      ":media": ids.media,
      ":account_id": bob.account.id,
    }[segment] ?? "x"
  );
}

describe("fuzz: malformed API requests", () => {
  it(`never 5xx, {"error"} bodies with the field named, no write on refusal (seed ${SEED}, ${NUM_RUNS} runs)`, async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(apiCase, async (c) => {
        let i = 0;
        const path = c.endpoint.path.replace(/:[a-z_]+/g, (segment) => {
          const choice = c.segments[i++ % c.segments.length];
          return choice === "valid" ? validFor(segment) : idValue(choice);
        });
        const method = c.overrideMethod ?? c.endpoint.method;
        const key = `${c.endpoint.method} ${c.endpoint.path}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        const headers: Record<string, string> = {};
        if (c.auth === "alice") headers.authorization = `Bearer ${alice.token}`;
        else if (c.auth === "bad") headers.authorization = "Bearer nope";
        else if (c.auth === "Bearer") headers.authorization = "Bearer";
        else if (c.auth === "Basic") headers.authorization = `Basic ${Buffer.from(`x:${alice.token}`).toString("base64")}`;
        if (c.idempotencyKey !== undefined) headers["idempotency-key"] = c.idempotencyKey;
        const withBody = c.body !== undefined && method !== "GET" && method !== "HEAD";
        if (withBody) headers["content-type"] = c.body!.type;
        const url = `${parley.url}${path}${c.query ? `?${c.query}` : ""}`;
        const before = stable(await fingerprint());
        const response = await fetch(url, { method, headers, body: withBody ? c.body!.text : undefined });
        const text = await response.text();
        const context = `${method} ${url.slice(0, 300)} [${withBody ? `${c.body!.type}: ${c.body!.text.slice(0, 200)}` : "no body"}] → ${response.status} ${text.slice(0, 300)}`;
        expect([context, response.status < 500]).toEqual([context, true]);
        expect((await fetch(`${parley.url}/healthz`)).status).toBe(200);
        if (response.status >= 400 && method !== "HEAD") {
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = text;
          }
          const ok = typeof body === "object" && body !== null && typeof (body as { error?: unknown }).error === "string";
          expect([context, ok]).toEqual([context, true]);
          const error = (body as { error: string; field?: unknown }).error;
          if (response.status === 400 && error === "invalid_request") {
            expect([context, typeof (body as { field?: unknown }).field]).toEqual([context, "string"]);
          }
        }
        // A refusal writes nothing.
        if (response.status >= 400) expect([context, stable(await fingerprint())]).toEqual([context, before]);
      }),
      { seed: SEED, numRuns: NUM_RUNS, endOnFailure: true },
    );
    // eslint-disable-next-line no-console
    console.log(`fuzz-api endpoints: ${JSON.stringify(Object.fromEntries(seen))}`);
  }, 240_000);
});

/** Plain regression tests of what the fuzzing found (docs/reliability-fuzz-notes.md). */
describe("fuzz findings, fixed", () => {
  it("multipart/form-data without a boundary: 400 naming the body, nothing written (busboy's error was a 500)", async () => {
    const before = stable(await fingerprint());
    const response = await fetch(`${parley.url}/api/v1/pleroma/chats/${ids.chat}/messages/${ids.message}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${alice.token}`, "content-type": "multipart/form-data" },
      body: '{"content":"x"}',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "invalid_request", field: "body" });
    expect(stable(await fingerprint())).toEqual(before);
  });

  it("a path id that is not valid percent-encoding: 404 not_found (was a 400 naming no field)", async () => {
    for (const path of [`/api/v1/pleroma/chats/%E0%A4%A`, `/api/v1/pleroma/chats/by-account-id/%ED%A0%80`, `/api/v1/media/%`]) {
      const response = await fetch(`${parley.url}${path}`, {
        method: path.includes("by-account-id") ? "POST" : "GET",
        headers: { authorization: `Bearer ${alice.token}` },
      });
      expect([path, response.status, await response.json()]).toEqual([path, 404, { error: "not_found" }]);
    }
  });
});
