import { createHash, createSign, randomUUID } from "node:crypto";
import { request } from "node:http";
import fc from "fast-check";
import { pleromaChatMessage } from "./helpers/inbox.js";
import { createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, startRemoteServer } from "./helpers/remote.js";

/**
 * Issue 13 item 7: property-based fuzzing of request headers. Requests are written with raw
 * `node:http` (headers exactly as generated: duplicates kept, no normalisation, any byte Node lets
 * through — tab, 0x20–0x7e, 0x80–0xff, so UTF-8 sequences of any character), against the inbox
 * (a correctly signed Create whose headers are then bent), an actor document, WebFinger,
 * NodeInfo, an object fetch and API routes. Per request: never a 5xx, and a 4xx is the repo's
 * `{"error": …}`; afterwards the process answers /healthz and logged no unhandled error.
 * Fixed seed; fast-check prints the seed and the shrunk counterexample on failure.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 0x4ead3e);
const NUM_RUNS = Number(process.env.FUZZ_RUNS ?? 500);

let parley: TestParley;
let remote: RemoteServer;
let sender: RemoteActor;
let token: string;
let host: string;
const logLines: string[] = [];

beforeAll(async () => {
  [parley, remote] = await Promise.all([
    startTestParley({ env: { LOG_LEVEL: "error" }, logStream: { write: (line: string) => void logLines.push(line) } }),
    startRemoteServer(),
  ]);
  sender = remote.actor("sender", { capabilities: { acceptsChatMessages: true } });
  token = (await createAccount(parley, "bob")).token;
  host = new URL(parley.url).host;
}, 60_000);
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close()]);
});

type Headers = [string, string][];

interface Answer {
  status: number;
  body: string;
}

/** Sends exactly these headers (Host included, or not). */
function send(method: string, path: string, headers: Headers, body?: Buffer): Promise<Answer> {
  const target = new URL(parley.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        method,
        path,
        headers: headers.flat() as unknown as Record<string, string>,
        setHost: false,
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within 15 s: ${method} ${path}`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** A Create signed draft-cavage rsa-sha256 as Pleroma signs: the headers before any bending. */
function signedInbox(): { headers: Headers; body: Buffer } {
  const body = Buffer.from(JSON.stringify(pleromaChatMessage(sender, `${parley.url}/users/bob`)));
  const date = new Date().toUTCString();
  const digest = `SHA-256=${createHash("sha256").update(body).digest("base64")}`;
  const signed = `(request-target): post /inbox\nhost: ${host}\ndate: ${date}\ndigest: ${digest}\ncontent-type: application/activity+json`;
  const signature = createSign("sha256").update(signed).sign(sender.privateKeyPem, "base64");
  return {
    body,
    headers: [
      ["host", host],
      ["date", date],
      ["digest", digest],
      ["content-type", "application/activity+json"],
      ["content-length", String(body.length)],
      [
        "signature",
        `keyId="${sender.keyId}",algorithm="rsa-sha256",headers="(request-target) host date digest content-type",signature="${signature}"`,
      ],
    ],
  };
}

interface Target {
  name: string;
  method: string;
  path: () => string;
  build: () => { headers: Headers; body?: Buffer };
}

const targets: Target[] = [
  { name: "inbox", method: "POST", path: () => "/inbox", build: signedInbox },
  {
    name: "actor",
    method: "GET",
    path: () => "/users/bob",
    build: () => ({
      headers: [
        ["host", host],
        ["accept", "application/activity+json"],
      ],
    }),
  },
  {
    name: "webfinger",
    method: "GET",
    path: () => `/.well-known/webfinger?resource=acct:bob@${host}`,
    build: () => ({ headers: [["host", host]] }),
  },
  { name: "nodeinfo", method: "GET", path: () => "/nodeinfo/2.1", build: () => ({ headers: [["host", host]] }) },
  { name: "nodeinfo discovery", method: "GET", path: () => "/.well-known/nodeinfo", build: () => ({ headers: [["host", host]] }) },
  {
    name: "object",
    method: "GET",
    path: () => `/objects/${randomUUID()}`,
    build: () => ({
      headers: [
        ["host", host],
        ["accept", "application/activity+json"],
      ],
    }),
  },
  {
    name: "chats",
    method: "GET",
    path: () => "/api/v1/pleroma/chats",
    build: () => ({
      headers: [
        ["host", host],
        ["authorization", `Bearer ${token}`],
      ],
    }),
  },
  { name: "instance", method: "GET", path: () => "/api/v1/instance", build: () => ({ headers: [["host", host]] }) },
];

// ---------------------------------------------------------------------------------------------
// Values.

/** Any byte Node's client lets into a header value (it refuses CR, LF, NUL and other controls). */
const headerByte = fc
  .integer({ min: 0, max: 255 })
  .filter((c) => c === 9 || (c >= 0x20 && c !== 0x7f))
  .map((c) => String.fromCharCode(c));
const bytes = (maxLength: number) => fc.array(headerByte, { maxLength }).map((chars) => chars.join(""));
/** Unicode text as its UTF-8 bytes (what reaches the server), control characters dropped. */
const unicode = fc.string({ unit: "grapheme", maxLength: 30 }).map((text) =>
  Buffer.from(text, "utf8")
    .toString("latin1")
    .replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, ""),
);
const long = fc
  .tuple(fc.constantFrom("a", ",", "=", '"', " ", "é", 'keyId="x",'), fc.integer({ min: 500, max: 3000 }))
  .map(([s, n]) => s.repeat(n));
const junk = fc.oneof(bytes(80), unicode, long, fc.constantFrom("", " ", ",", ";", "=", '"', "\t"));

/** Key ids (the remote ones resolved at generation time, once the servers run). */
const keyId = fc
  .constantFrom("sender", "nobody", "http://127.0.0.1:1/k", "javascript:alert(1)", "http://[::1", "", "urn:x")
  .map((k) => (k === "sender" ? sender.keyId : k === "nobody" ? `${remote.url}/users/nobody#main-key` : k));
const base64ish = fc.constantFrom("AAAA", "!!!", "", "A", "====", "QUJD", "YWJj\u00e9");
const numberish = fc.constantFrom("0", "-1", "1e10", "99999999999999999999", "1700000000", "abc", "");

const signatureParameter = fc.oneof(
  keyId.map((k) => `keyId="${k}"`),
  fc.constantFrom("rsa-sha256", "hs2019", "x", "", "RSA-SHA256").map((a) => `algorithm="${a}"`),
  fc
    .constantFrom("(request-target) host date digest", "date", "", "a@b date", "(request-target)  date", "(created) (expires)")
    .map((h) => `headers="${h}"`),
  base64ish.map((s) => `signature="${s}"`),
  numberish.map((n) => `created=${n}`),
  numberish.map((n) => `expires="${n}"`),
  junk,
);

const valueFor: Record<string, () => fc.Arbitrary<string>> = {
  host: () =>
    fc.oneof(
      fc.constantFrom(
        "a b",
        "[::1",
        "[zz]:80",
        "example.org:99999",
        "example.org:-1",
        "ex%61mple.org",
        "h\u00c3\u00a9",
        ":80",
        "a:b:c",
        "a,b",
        "",
        "localhost",
      ),
      junk,
    ),
  "x-forwarded-proto": () => fc.oneof(fc.constantFrom("a b", "https, http", "HTTPS", "", ",", "javascript", "http ,https", "ftp"), junk),
  "x-forwarded-host": () => fc.oneof(fc.constantFrom("a b", "ok.example, bad host", "[::1]:8080", "x:99999"), junk),
  "x-forwarded-for": () =>
    fc.oneof(fc.constantFrom("1.2.3.4, x", "::ffff:1.2.3.4", "[::1]:80", "999.1.1.1", ",,,", "unknown", "fe80::1%eth0"), junk),
  "x-forwarded-port": () => junk,
  date: () =>
    fc.oneof(
      fc.constantFrom(
        "garbage",
        "Thu, 99 Dec 2026 08:59:13 GMT",
        "+275760-09-13T00:00:00.001Z",
        "-271821-04-20T00:00:00.000Z",
        "1e400",
        "0",
        "Thu, 01 Jan 1970 00:00:00 GMT",
      ),
      fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((d) => d.toUTCString()),
      junk,
    ),
  digest: () =>
    fc
      .array(
        fc.oneof(
          fc.constantFrom(
            "constructor=AAAA",
            "__proto__=AAAA",
            "toString=AAAA",
            "x",
            "=",
            "SHA-512=!!",
            "SHA=AAAA",
            "sha-256=",
            "SHA-256=AAAA",
          ),
          junk,
        ),
        { maxLength: 4 },
      )
      .map((extra) => ["SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", ...extra].join(",")),
  signature: () => fc.array(signatureParameter, { minLength: 1, maxLength: 6 }).map((parameters) => parameters.join(",")),
  "signature-input": () =>
    fc.oneof(
      fc.tuple(numberish, keyId).map(([created, keyId]) => `sig1=("@method" "@target-uri");created=${created};keyid="${keyId}"`),
      fc.constantFrom(`a=();keyid="x", b=();keyid="y"`, `sig1=("@method";created=1`, `sig1=("@method");keyid="a";keyid="b"`, "sig1=:AAAA:"),
      junk,
    ),
  "content-type": () =>
    fc.oneof(fc.constantFrom("application/activity+json; charset=\u00ff", "multipart/form-data", 'application/json; a="', ";;;"), junk),
  accept: () => fc.oneof(fc.constantFrom("application/activity+json;q=x", "*/*;q=-1", 'text/html, application/ld+json; profile="'), junk),
  authorization: () =>
    fc.oneof(
      fc.constantFrom("Bearer", "Bearer  ", "Basic !!!", 'Signature keyId="x"'),
      junk.map((s) => `Bearer ${s}`),
      junk,
    ),
  "x-request-id": () => junk,
  cookie: () => junk,
  origin: () => junk,
};
const HEADER_NAMES = Object.keys(valueFor);

/** One change to a request's headers: a header replaced (possibly by several copies), added or removed. */
const mutation = fc.constantFrom(...HEADER_NAMES).chain((name) =>
  fc.record({
    name: fc.constant(name),
    mode: fc.constantFrom("replace", "replace", "add", "remove"),
    values: fc.array(valueFor[name](), { minLength: 1, maxLength: 3 }),
  }),
);

function apply(headers: Headers, change: { name: string; mode: string; values: string[] }): Headers {
  const kept = change.mode === "add" ? headers : headers.filter(([name]) => name !== change.name);
  if (change.mode === "remove") return kept;
  return [...kept, ...change.values.map((value) => [change.name, value] as [string, string])];
}

// ---------------------------------------------------------------------------------------------

describe("fuzz: malformed request headers", () => {
  const statuses = new Map<number, number>();

  it('never a 5xx on the inbox, actor, WebFinger, NodeInfo, objects and the API; a refusal is {"error": …}', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...targets.map((t) => t.name)),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        async (name, changes) => {
          const target = targets.find((t) => t.name === name)!;
          const { headers, body } = target.build();
          const bent = changes.reduce(apply, headers);
          let answer: Answer;
          try {
            answer = await send(target.method, target.path(), bent, body);
          } catch (error) {
            // Node's client refuses some values itself (e.g. a header too large to send): not a server answer.
            if (/Invalid character|ERR_INVALID_CHAR|ERR_HTTP_INVALID_HEADER_VALUE/.test(String(error))) return;
            throw error;
          }
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          // A 503 service_unavailable says PostgreSQL or Redis was out of reach (a loaded test
          // machine runs out of connections), not that the input broke anything.
          const dependencyDown = answer.status === 503 && answer.body.includes('"service_unavailable"');
          if (answer.status >= 500 && !dependencyDown) throw new Error(`${name}: ${answer.status} ${answer.body.slice(0, 200)}`);
          // Node's own framing refusals (400/431 before express) have no JSON body.
          if (answer.status >= 400 && answer.body.startsWith("{")) expect(JSON.parse(answer.body)).toHaveProperty("error");
        },
      ),
      { seed: SEED, numRuns: NUM_RUNS },
    );
    // Some of each: refusals, and requests bent harmlessly that still succeed.
    expect([...statuses.keys()].some((s) => s >= 400)).toBe(true);
    expect([...statuses.keys()].some((s) => s < 300)).toBe(true);
  }, 240_000);

  it("the process still answers and logged no unhandled error", async () => {
    expect((await send("GET", "/healthz", [["host", host]])).status).toBe(200);
    // The error handler's line for anything it did not expect (the 500 path).
    const unhandled = logLines.filter((line) => line.includes('"msg":"unhandled error"'));
    expect(unhandled.map((line) => line.slice(0, 400))).toEqual([]);
  });
});

describe("the four inputs of the attack run: 4xx with the reason", () => {
  it.each<[string, Headers]>([
    ["a bad Host", [["host", "a b"]]],
    ["X-Forwarded-Proto: a b", [["x-forwarded-proto", "a b"]]],
  ])("%s → 400 naming the header, on the inbox and elsewhere", async (_name, bent) => {
    for (const target of targets) {
      const { headers, body } = target.build();
      const names = new Set(bent.map(([name]) => name));
      const answer = await send(target.method, target.path(), [...headers.filter(([name]) => !names.has(name)), ...bent], body);
      expect([target.name, answer.status, JSON.parse(answer.body)]).toEqual([
        target.name,
        400,
        { error: "invalid_request", field: bent[0][0], message: expect.any(String) },
      ]);
    }
  });

  it("a Digest with an extra entry named like an Object property, and an unparsable Date: 401 with the reason", async () => {
    for (const [name, value, reason] of [
      ["digest", "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=, constructor=AAAA", "malformed_digest"],
      ["date", "Thu, 99 Dec 2026 08:59:13 GMT", "invalid_date"],
    ]) {
      const { headers, body } = signedInbox();
      const answer = await send("POST", "/inbox", [...headers.filter(([n]) => n !== name), [name, value]], body);
      expect([name, answer.status, JSON.parse(answer.body)]).toEqual([
        name,
        401,
        { error: "invalid_signature", reason, message: expect.any(String) },
      ]);
    }
  });

  it("signature parameters Fedify's verifier throws on: 401 malformed_signature before it runs", async () => {
    const cases: Headers[] = [
      [["signature", `keyId="${sender.keyId}",headers="(request-target) host date digest",signature="AAAA",created=99999999999999999999`]],
      [["signature", `keyId="${sender.keyId}",headers="(request-target) host date a@b",signature="AAAA"`]],
      [["signature", `keyId="${sender.keyId}",headers="(request-target) host date digest",signature="!!!"`]],
      [
        ["signature-input", `sig1=("@method");created=999999999999999;keyid="${sender.keyId}"`],
        ["signature", "sig1=:AAAA:"],
      ],
    ];
    for (const bent of cases) {
      const { headers, body } = signedInbox();
      const answer = await send("POST", "/inbox", [...headers.filter(([n]) => n !== "signature"), ...bent], body);
      expect([bent, answer.status, JSON.parse(answer.body).reason]).toEqual([bent, 401, "malformed_signature"]);
    }
  });

  it("the same request unbent is accepted (the refusals above are for the header, not the request)", async () => {
    const { headers, body } = signedInbox();
    expect((await send("POST", "/inbox", headers, body)).status).toBe(202);
  });
});
