import fc from "fast-check";
import { type Json, pleromaChatMessage, settled, stored } from "./helpers/inbox.js";
import { createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";

/**
 * Property-based fuzzing of the inbox (issue 7): correctly signed but malformed or hostile
 * activities posted to a local account's inbox (and the shared inbox). Per request:
 *  - never a 5xx, and the process keeps answering (/healthz);
 *  - a refusal (4xx) stores nothing (inbox_activities and messages, read from the database);
 *  - when docs/federation.md names a reason code for the case built, the answer is exactly
 *    422 {"error":"invalid_chat_message","reason": code} (one of the codes when several rules break);
 *  - a 202 for a Create{ChatMessage} is one that is valid per those rules (an independent oracle below),
 *    and a valid one is answered 202 and stored.
 * Fixed seed; fast-check prints the seed and the shrunk counterexample on failure.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 0x7a11e7);
const NUM_RUNS = Number(process.env.FUZZ_RUNS ?? 250);
const REMOTE_LIMIT = 1000;
const INBOX_MAX = 65536;
const PUBLIC = "https://www.w3.org/ns/activitystreams#Public";

let parley: TestParley;
let remote: RemoteServer;
let sender: RemoteActor;
let mallory: RemoteActor;
let bobUri: string;
let carolUri: string;

beforeAll(async () => {
  [parley, remote] = await Promise.all([
    startTestParley({ env: { REMOTE_MESSAGE_LIMIT: String(REMOTE_LIMIT), INBOX_MAX_BYTES: String(INBOX_MAX) } }),
    startRemoteServer(),
  ]);
  sender = remote.actor("sender", { capabilities: { acceptsChatMessages: true } });
  mallory = remote.actor("mallory");
  await createAccount(parley, "bob");
  await createAccount(parley, "carol", { accepts_chat_messages: false });
  bobUri = `${parley.url}/users/bob`;
  carolUri = `${parley.url}/users/carol`;
  // Warm the key cache of both remote actors (one fetch each), so the runs stay fast.
  const warm = await signedPost(`${parley.url}/inbox`, pleromaChatMessage(sender, bobUri), sender);
  expect([warm.status, warm.body]).toEqual([202, ""]);
  const like = {
    "@context": "https://www.w3.org/ns/activitystreams",
    id: `${remote.url}/likes/warm`,
    type: "Like",
    actor: mallory.id,
    object: bobUri,
  };
  expect((await signedPost(`${parley.url}/inbox`, like, mallory)).status).toBe(202);
  await settled(parley);
}, 60_000);
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close()]);
});

// ---------------------------------------------------------------------------------------------
// An oracle written from the rules of docs/federation.md, independent of src/federation/inbox/chat-message-rules.ts.

const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
function http(v: unknown): URL | undefined {
  if (typeof v !== "string") return undefined;
  try {
    const u = new URL(v);
    return (u.protocol === "http:" || u.protocol === "https:") && u.host ? u : undefined;
  } catch {
    return undefined;
  }
}
const ref = (v: unknown) => (typeof v === "string" ? v : isObj(v) && typeof v.id === "string" ? v.id : undefined);
function recipients(v: unknown): string[] {
  const list = v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
  return [...new Set(list.map((e) => http(ref(e))?.href).filter((h): h is string => !!h))].sort();
}
function validDate(v: unknown): boolean {
  if (typeof v !== "string") return false;
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/.exec(v.trim());
  if (!m) return false;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? "0"].map(Number);
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return false;
  const zone = m[7] && !/^z$/i.test(m[7]) ? m[7].slice(1).replace(":", "") : "0000";
  if (Number(zone.slice(0, 2)) > 23 || Number(zone.slice(2, 4) || "0") > 59) return false;
  return new Date(Date.UTC(y, mo - 1, d)).getUTCDate() === d;
}
function visibleContent(o: Json): boolean {
  const c = typeof o.content === "string" ? o.content : "";
  const text = c
    .replace(/<script[\s\S]*?<\/script>/gi, "")
    .replace(/<style[\s\S]*?<\/style>/gi, "")
    .replace(/<(?!img\b)[^>]*>/gi, "")
    .replace(/&nbsp;|&#160;/g, " ")
    .trim();
  return text !== "";
}
function hasAttachment(o: Json): boolean {
  const first = [o.attachment].flat()[0];
  if (!isObj(first)) return false;
  const hrefs = [first.url, first.href].flatMap((u) => [u].flat()).map((u) => (isObj(u) ? u.href : u));
  return hrefs.some((h) => http(h));
}
function badEmoji(o: Json): boolean {
  return [o.tag].flat().some((t) => {
    if (!isObj(t) || ![t.type].flat().includes("Emoji")) return false;
    const icon = [t.icon].flat()[0];
    const url = typeof icon === "string" ? icon : isObj(icon) ? [icon.url].flat().map((u) => (isObj(u) ? u.href : u))[0] : undefined;
    return url !== undefined && url !== null && !http(url);
  });
}

/**
 * The reason codes a Create{ChatMessage} breaks, per docs/federation.md (empty: valid); `null` when the body is
 * not a Create{ChatMessage} by the signer at all (then nothing may be stored).
 */
function oracle(activity: unknown, signer: RemoteActor): string[] | null | "ambiguous" {
  // `actor` may be embedded ({"id": …}) or a list of one: JSON-LD's node reference and set.
  if (!isObj(activity)) return null;
  const actors = [activity.actor].flat();
  if (actors.length > 1 && actors.some((a) => ref(a) === signer.id)) return "ambiguous";
  if (actors.length !== 1 || ref(actors[0]) !== signer.id) return null;
  // A JSON-LD node of several types, Create among them: whether it is handled as a Create is the
  // implementation's choice; only the general invariants apply.
  if (activity.type !== "Create") return Array.isArray(activity.type) && activity.type.includes("Create") ? "ambiguous" : null;
  const object = activity.object;
  if (!isObj(object) || ![object.type].flat().some((t) => typeof t === "string" && /(^|[#:/])ChatMessage$/.test(t))) return null;
  if (http(activity.id)?.origin !== new URL(signer.id).origin) return null; // 400 invalid_activity
  const reasons: string[] = [];
  if (object.type !== "ChatMessage") reasons.push("wrong_type");
  if (http(object.id)?.origin !== new URL(signer.id).origin) reasons.push("foreign_object_id");
  const authors = [object.attributedTo, object.actor].filter((v) => v !== undefined && v !== null).flatMap((v) => [v].flat());
  if (authors.length === 0 || authors.some((a) => http(ref(a))?.href !== new URL(signer.id).href)) reasons.push("actor_mismatch");
  const to = recipients(object.to);
  if (to.length !== 1) reasons.push("recipient_count");
  const activityTo = recipients(activity.to);
  if (to.length === 1 && (activityTo.length !== 1 || activityTo[0] !== to[0])) reasons.push("to_mismatch");
  if (to.length === 1 && to[0] !== bobUri && to[0] !== carolUri) reasons.push("unknown_recipient");
  if (to.length === 1 && to[0] === carolUri) reasons.push("recipient_does_not_accept_chats");
  if (!validDate(object.published)) reasons.push("missing_published");
  if (!visibleContent(object) && !hasAttachment(object)) reasons.push("no_content");
  if (typeof object.content === "string" && [...object.content].length > REMOTE_LIMIT) reasons.push("content_too_long");
  if (badEmoji(object)) reasons.push("bad_emoji");
  return reasons;
}

// ---------------------------------------------------------------------------------------------
// Generators. Each case: the body (an object, or raw text), who signs, and what the oracle cannot
// see (ambiguous sanitizing, shapes Fedify cannot parse at all).

interface Case {
  kind: string;
  body: Json | string;
  signer?: "sender" | "mallory";
  inbox?: "bob" | "shared";
  /** The answer is fixed by the case itself (status and, for 422, the reason). */
  expect?: { status: number; body?: Json };
  /** The oracle's "valid" cannot be relied on (e.g. content the sanitizer may or may not empty). */
  fuzzyValidity?: boolean;
  /** Fedify may refuse to parse the activity at all (400) though the ChatMessage rules hold. */
  may400?: boolean;
}

const base = (object: Json = {}, activity: Json = {}) => pleromaChatMessage(sender, bobUri, object, activity);
const foreign = "https://elsewhere.example";

/** Odd and hostile strings: control characters, lone surrogates, bidi and zero-width marks, long text. */
const nastyString = fc.oneof(
  fc.constantFrom(
    "\u0000",
    "a\u0000b",
    "\ud800",
    "x\udc00y",
    "\u202eevil\u202c",
    "\u200b",
    "\u200d\u200c\ufeff",
    "\u2028\u2029",
    "\uffff\ufffe",
    "𝕳𝖊𝖑𝖑𝖔 👩‍👩‍👧",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "%00",
    "../../etc/passwd",
    "' OR 1=1 --",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, meant literally
    "{{7*7}}${7*7}",
  ),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "binary-ascii", maxLength: 40 }),
  fc.integer({ min: 1001, max: 20000 }).map((n) => "y".repeat(n)),
);

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  nastyString,
  fc.constantFrom(null, true, false, 0, -1, 1e308, Number.MAX_SAFE_INTEGER, [], {}, [[]], [{}], { id: null }, { "@id": "x" }),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.array(nastyString, { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), nastyString, { maxKeys: 3 }),
);

/** A message whose `where` is nested `depth` levels deep in arrays or objects, as JSON text. */
const deepText = (depth: number, arrays: boolean, where: string): string => {
  const wrap = (leaf: string) => (arrays ? "[".repeat(depth) + leaf + "]".repeat(depth) : '{"a":'.repeat(depth) + leaf + "}".repeat(depth));
  const message = base();
  if (where === "object") return JSON.stringify({ ...message, object: "@@" }).replace('"@@"', wrap(JSON.stringify(message.object)));
  const leaf = JSON.stringify(where === "to" ? bobUri : "x");
  return JSON.stringify(base({ [where]: "@@" })).replace('"@@"', wrap(leaf));
};

const objectFields = [
  "type",
  "id",
  "actor",
  "attributedTo",
  "to",
  "content",
  "published",
  "attachment",
  "tag",
  "contentMap",
  "source",
  "mediaType",
  "conversation",
  "cc",
  "summary",
  "inReplyTo",
  "url",
  "name",
];
const activityFields = ["to", "cc", "published", "object", "type", "id", "@context", "signature", "bto", "audience"];

const cases: fc.Arbitrary<Case>[] = [
  // Valid messages with odd but legal content: must be accepted and stored.
  fc.record({ content: nastyString, lang: fc.constantFrom(undefined, "und", "ar") }).map(({ content, lang }) => ({
    kind: "unicode content",
    body: base({ content, ...(lang ? { contentMap: { [lang]: content } } : {}) }),
    fuzzyValidity: true,
  })),
  // wrong/array/missing types.
  fc
    .constantFrom<unknown>(
      ["ChatMessage"],
      ["ChatMessage", "Note"],
      "litepub:ChatMessage",
      "http://litepub.social/ns#ChatMessage",
      "chatmessage",
      "Note",
      undefined,
      null,
      5,
      { id: "ChatMessage" },
      "ChatMessage\u0000",
      " ChatMessage",
    )
    .map((type) => ({
      kind: "object type",
      body: base({ type }),
    })),
  fc
    .constantFrom<unknown>(
      ["Create"],
      "create",
      "Update",
      "Announce",
      "Undo",
      "Delete",
      "Flag",
      "Move",
      undefined,
      null,
      7,
      ["Create", "Update"],
      "Create\u0000",
    )
    .map((type) => ({
      kind: "activity type",
      body: base({}, { type }),
      may400: true,
    })),
  // any field of the object or the activity replaced by a hostile value (nested objects where strings are expected …).
  fc.record({ field: fc.constantFrom(...objectFields), value: hostileValue }).map(({ field, value }) => ({
    kind: `object.${field} hostile`,
    body: base({ [field]: value }),
    may400: true,
    fuzzyValidity: true,
  })),
  fc.record({ field: fc.constantFrom(...activityFields), value: hostileValue }).map(({ field, value }) => ({
    kind: `activity.${field} hostile`,
    body: base({}, { [field]: value }),
    may400: true,
    fuzzyValidity: true,
  })),
  // wrong `to` shapes, object and activity alike or not.
  fc
    .record({
      shape: fc.constantFrom<(b: string) => unknown>(
        (b) => b,
        (b) => ({ id: b }),
        (b) => [{ id: b, type: "Person" }],
        (b) => [b, b],
        (b) => [b, `${b}/`],
        (b) => [b, PUBLIC],
        (b) => [b, "as:Public", "Public"],
        (b) => [b, `${parley.url}/users/carol`],
        (b) => [b, mallory.id],
        () => [],
        () => "",
        () => [`${parley.url}/users/nobody`],
        () => [`${parley.url}/users/BOB`],
        () => [`${parley.url}/users/bo%00b`],
        () => [`${parley.url}/users/bob?x=1`],
        () => [`${parley.url}/users/bob#frag`],
        () => [`${parley.url}/users/%E0%A4%A`],
        () => [carolUri],
        () => [mallory.id],
        () => [`${foreign}/users/bob`],
        () => [PUBLIC],
      ),
      same: fc.boolean(),
      other: fc.constantFrom<() => unknown>(
        () => undefined,
        () => [],
        () => [PUBLIC],
        () => [sender.id],
      ),
    })
    .map(({ shape, same, other }) => {
      const to = shape(bobUri);
      return { kind: "to shapes", body: base({ to }, { to: same ? to : (other() ?? to) }) };
    }),
  // foreign / odd object ids.
  fc
    .constantFrom<(o: string) => unknown>(
      () => `${foreign}/objects/1`,
      () => "urn:uuid:1",
      () => "javascript:alert(1)//",
      () => "",
      () => undefined,
      () => null,
      (o) => `${o.replace("127.0.0.1", "localhost")}/objects/1`,
      (o) => `${o}/objects/\u0000`,
      (o) => `${o}/objects/${"z".repeat(3000)}`,
      (o) => ({ id: `${o}/objects/x` }),
      (o) => [`${o}/objects/x`],
    )
    .map((make) => ({ kind: "object id", body: base({ id: make(remote.url) }), may400: true })),
  // actor mismatch: activity/object actor, attributedTo.
  fc
    .record({
      where: fc.constantFrom("attributedTo", "actor", "both", "activity"),
      who: fc.constantFrom<() => unknown>(
        () => mallory.id,
        () => `${foreign}/users/sender`,
        () => [sender.id, mallory.id],
        () => ({ id: mallory.id }),
        () => ({ id: sender.id, type: "Person" }),
        () => [sender.id],
        () => `${sender.id}/`,
        () => sender.id.toUpperCase(),
      ),
    })
    .map(({ where, who }) => {
      const v = who();
      const body =
        where === "activity" ? base({}, { actor: v }) : where === "both" ? base({ actor: v, attributedTo: v }) : base({ [where]: v });
      return { kind: `actor ${where}`, body, may400: true };
    }),
  // signed by another actor than the activity's.
  fc.constant<Case>({ kind: "signer mismatch", body: {}, signer: "mallory" }).map((c) => ({
    ...c,
    body: base(),
    expect: { status: 401, body: { error: "invalid_signature", reason: "actor_key_mismatch" } },
  })),
  // published.
  fc
    .oneof(
      fc.constantFrom<unknown>(
        undefined,
        null,
        "",
        "yesterday",
        "2024-02-30T10:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T10:00:00+25:00",
        "+275760-09-13T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2024-01-01T10:00:00.123456789Z",
        "2024-01-01 10:00:00",
        "2024-01-01T10:00Z",
        "2024-01-01",
        1700000000000,
        ["2024-01-01T10:00:00Z"],
        { "@value": "2024-01-01T10:00:00Z" },
        "2024-01-01T10:00:00Z\u0000",
      ),
      fc.date({ min: new Date(-62_000_000_000_000), max: new Date(250_000_000_000_000), noInvalidDate: true }).map((d) => d.toISOString()),
    )
    .map((published) => ({ kind: "published", body: base({ published }), may400: true })),
  // huge strings (under INBOX_MAX_BYTES): content, unrelated fields.
  fc.record({ n: fc.integer({ min: 900, max: 1100 }), unit: fc.constantFrom("x", "é", "😀", "<b></b>", "\u200b") }).map(({ n, unit }) => ({
    kind: "long content",
    body: base({ content: unit.repeat(n) }),
    fuzzyValidity: true,
  })),
  fc
    .integer({ min: 10_000, max: 40_000 })
    .map((n) => ({ kind: "huge unrelated field", body: base({ summary: "s".repeat(n), name: "n".repeat(n / 2) }), may400: true })),
  // over INBOX_MAX_BYTES: 413.
  fc.integer({ min: INBOX_MAX + 1, max: INBOX_MAX * 2 }).map((n) => ({
    kind: "over INBOX_MAX_BYTES",
    body: base({ content: "x".repeat(n) }),
    expect: { status: 413, body: { error: "payload_too_large" } },
  })),
  // deep nesting in several places.
  fc
    .record({
      depth: fc.oneof(fc.integer({ min: 20, max: 64 }), fc.integer({ min: 65, max: 5000 })),
      arrays: fc.boolean(),
      where: fc.constantFrom("content", "to", "tag", "attachment", "extra", "object"),
    })
    .map(({ depth, arrays, where }) => ({
      kind: `deep nesting ${where}`,
      // raw text: fast-check would overflow its stack printing such a value
      body: deepText(depth, arrays, where),
      // Deeper than the inbox's 64 levels: 400 before any parsing (JSON-LD expansion would overflow).
      ...(depth > 64 ? { expect: { status: 400, body: { error: "invalid_activity" } } } : {}),
      may400: true,
      fuzzyValidity: true,
    })),
  // duplicate keys (raw text: JSON.parse keeps the last one).
  fc
    .constantFrom(
      (o: Json) => JSON.stringify(o).replace('"type":"ChatMessage"', '"type":"ChatMessage","type":"Note"'),
      (o: Json) => JSON.stringify(o).replace('"type":"ChatMessage"', '"type":"Note","type":"ChatMessage"'),
      (o: Json) => JSON.stringify(o).replace('"type":"Create"', '"type":"Create","type":"Update"'),
      (o: Json) => JSON.stringify(o).replace(`"actor":"${sender.id}"`, `"actor":"${mallory.id}","actor":"${sender.id}"`),
      (o: Json) => JSON.stringify(o).replace('"content":', '"content":"","content":'),
      (o: Json) => JSON.stringify(o).replace('"content":', `"to":["${foreign}/x"],"content":`),
      (o: Json) => JSON.stringify(o).replace(/"id":"([^"]+)"/, `"id":"${foreign}/a","id":"$1"`),
    )
    .map((edit) => {
      const activity = base();
      const text = edit(activity);
      return { kind: "duplicate keys", body: text, may400: true };
    }),
  // JSON-LD shapes: @graph, @included, @reverse, @id instead of id, @type instead of type, @context oddities.
  fc
    .constantFrom<(a: Json) => unknown>(
      (a) => ({ "@context": a["@context"], "@graph": [a] }),
      (a) => ({ ...a, "@included": [{ ...a, id: `${a.id}-2` }] }),
      (a) => ({ ...a, object: { ...(a.object as Json), "@reverse": { attributedTo: { "@id": mallory.id } } } }),
      (a) => ({ ...a, "@reverse": { object: { "@id": `${foreign}/x` } } }),
      (a) => ({ ...a, "@id": a.id, id: undefined }),
      (a) => ({ ...a, object: { ...(a.object as Json), "@type": "ChatMessage", type: undefined } }),
      (a) => ({ ...a, "@type": "Create", type: undefined }),
      (a) => ({ ...a, "@context": { "@vocab": "https://www.w3.org/ns/activitystreams#", ChatMessage: "Note" } }),
      (a) => ({ ...a, "@context": [a["@context"], { to: { "@id": "as:cc", "@type": "@id" } }] }),
      (a) => ({ ...a, "@context": "https://elsewhere.example/unknown-context.jsonld" }),
      (a) => ({ ...a, "@context": null }),
      (a) => ({ ...a, object: { ...(a.object as Json), "@context": { "@protected": true, type: "@type" } } }),
      (a) => ({ ...a, object: [a.object, { ...(a.object as Json), id: `${(a.object as Json).id}-2` }] }),
      (a) => ({ ...a, object: (a.object as Json).id }),
      (a) => [a],
    )
    .map((shape) => ({ kind: "json-ld shapes", body: shape(base()) as Json, may400: true, fuzzyValidity: true })),
  // not JSON, or JSON that is not an object.
  fc
    .oneof(
      fc.constantFrom(
        "",
        "null",
        "[]",
        "42",
        '"Create"',
        "{",
        '{"type":"Create"',
        "\u0000",
        "{}",
        '{"@context":"https://www.w3.org/ns/activitystreams"}',
        "\ufeff{}",
        "[".repeat(5000) + "]".repeat(5000),
      ),
      fc.string({ unit: "binary", maxLength: 100 }),
      fc.json({ maxDepth: 4 }),
    )
    .map((text) => ({ kind: "not an activity", body: text, may400: true })),
  // emoji and attachments.
  fc
    .record({
      icon: fc.constantFrom<unknown>(
        "javascript:alert(1)",
        "data:image/png;base64,AA",
        "https://e.example/e.png",
        { url: "ftp://x/y" },
        { url: { href: "https://e.example/e.png" } },
        [],
        null,
        5,
        { url: ["\u0000"] },
      ),
      name: fc.constantFrom<unknown>(":ok:", "", null, ["x"], ":\u0000:", "::"),
      single: fc.boolean(),
    })
    .map(({ icon, name, single }) => {
      const tag = {
        type: "Emoji",
        name,
        icon: typeof icon === "object" && icon !== null && !Array.isArray(icon) ? { type: "Image", ...icon } : icon,
      };
      return { kind: "emoji tags", body: base({ tag: single ? tag : [tag, { type: "Mention", href: bobUri }] }), may400: true };
    }),
  fc
    .record({
      url: fc.constantFrom<unknown>(
        "https://r.example/a.png",
        "javascript:x",
        "",
        null,
        ["https://r.example/a.png"],
        [{ href: "https://r.example/a.png", mediaType: "image/png" }],
        { href: 5 },
        "https://r.example/\u0000",
      ),
      empty: fc.boolean(),
      list: fc.constantFrom("single", "list", "empty-list"),
    })
    .map(({ url, empty, list }) => {
      const att = { type: "Document", mediaType: "image/png", url, width: -5, height: 1e300, blurhash: 12 };
      return {
        kind: "attachments",
        body: base({ content: empty ? "" : "with attachment", attachment: list === "single" ? att : list === "list" ? [att, att] : [] }),
        may400: true,
      };
    }),
  // other activities carrying hostile shapes (must never store).
  fc
    .record({ type: fc.constantFrom("Delete", "Update", "Undo", "Like", "Follow", "Block", "Flag"), object: hostileValue })
    .map(({ type, object }) => ({
      kind: `${type} hostile object`,
      body: {
        "@context": "https://www.w3.org/ns/activitystreams",
        id: `${remote.url}/activities/${type}-${Math.random()}`,
        type,
        actor: sender.id,
        to: [bobUri],
        object,
      },
      may400: true,
    })),
  // a foreign activity id.
  fc.constantFrom(`${foreign}/activities/1`, "urn:uuid:1", "", "javascript:1").map((id) => ({
    kind: "activity id",
    body: base({}, { id }),
    may400: true,
  })),
];

/** Short counterexamples: the kind and the start of the body. */
const printable = (c: Case): Case =>
  Object.assign(c, {
    [fc.toStringMethod]: () => `${c.kind}: ${(typeof c.body === "string" ? c.body : JSON.stringify(c.body)).slice(0, 1500)}`,
  });
const inboxCase = fc.record({ c: fc.oneof(...cases).map(printable), inbox: fc.constantFrom<"bob" | "shared">("bob", "shared") });

async function healthy(): Promise<boolean> {
  const response = await fetch(`${parley.url}/healthz`);
  return response.status === 200;
}

/** Counts of the tables an inbox POST may write, plus the inbox row of this activity id. */
async function snapshot() {
  return stored(parley);
}

async function messageStoredFor(objectId: unknown): Promise<boolean> {
  // The inbox stores NUL and lone surrogates as U+FFFD (PostgreSQL cannot hold them).
  const url = http(
    typeof objectId === "string"
      ? objectId.replace(/\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd")
      : objectId,
  );
  if (!url) return false;
  const sql = parley.parley.deps.db.$client;
  const [row] = await sql`SELECT count(*)::int AS n FROM messages WHERE uri = ${url.href}`;
  return row.n > 0;
}

describe("fuzz: signed but malformed or hostile activities at the inbox", () => {
  it(`never 5xx, refusals store nothing, reasons as docs/federation.md, 202 only for valid messages (seed ${SEED}, ${NUM_RUNS} runs)`, async () => {
    const kinds = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(inboxCase, async ({ c, inbox }) => {
        kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
        const signer = c.signer === "mallory" ? mallory : sender;
        const url = inbox === "bob" ? `${parley.url}/users/bob/inbox` : `${parley.url}/inbox`;
        let parsed: unknown;
        if (typeof c.body === "string") {
          try {
            parsed = JSON.parse(c.body);
          } catch {
            parsed = undefined;
          }
        } else parsed = JSON.parse(JSON.stringify(c.body));
        const before = await snapshot();
        const response = await signedPost(url, c.body, signer);
        const context = `${c.kind} → ${response.status} ${response.body.slice(0, 300)}`;
        expect([context, response.status < 500]).toEqual([context, true]);
        expect(await healthy()).toBe(true);
        let body: unknown;
        try {
          body = response.body ? JSON.parse(response.body) : undefined;
        } catch {
          body = response.body;
        }
        if (response.status >= 400) {
          // error bodies are {"error": code, …}
          expect([context, isObj(body) && typeof body.error === "string"]).toEqual([context, true]);
        }
        if (c.expect) {
          expect([c.kind, response.status]).toEqual([c.kind, c.expect.status]);
          if (c.expect.body) expect(body).toMatchObject(c.expect.body);
        }
        const verdict = oracle(parsed, signer);
        if (verdict === "ambiguous") {
          if (response.status === 202) await settled(parley);
          else expect([context, await snapshot()]).toEqual([context, before]);
          return;
        }
        const reasons = verdict;
        if (response.status === 202) {
          await settled(parley);
          if (reasons && reasons.length > 0) {
            // accepted although the rules refuse it
            throw new Error(`accepted an invalid ChatMessage (${reasons.join(", ")}): ${context}\n${JSON.stringify(parsed).slice(0, 600)}`);
          }
          if (reasons === null) {
            // not a Create{ChatMessage} by the signer: nothing stored as a message
            const after = await snapshot();
            expect([context, after.messages]).toEqual([context, before.messages]);
          } else {
            // valid: stored (or a duplicate of something stored)
            expect([context, await messageStoredFor((parsed as Json).object && ((parsed as Json).object as Json).id)]).toEqual([
              context,
              true,
            ]);
          }
        } else {
          // refused: nothing stored
          await new Promise((resolve) => setTimeout(resolve, 10));
          expect([context, await snapshot()]).toEqual([context, before]);
          if (c.expect) {
            // checked above
          } else if (reasons && reasons.length > 0 && c.signer !== "mallory") {
            // The rules give a reason code for this case: the answer carries one of those broken.
            expect([context, response.status]).toEqual([context, 422]);
            expect(body).toMatchObject({ error: "invalid_chat_message" });
            expect([context, reasons]).toEqual([context, expect.arrayContaining([(body as Json).reason])]);
          } else if (reasons && reasons.length === 0 && c.signer !== "mallory") {
            // valid per the rules but refused: only tolerated where Fedify cannot parse a hostile extra field,
            // or where the oracle's sanitizing guess may differ.
            expect([context, c.may400 || c.fuzzyValidity]).toEqual([context, true]);
            if (response.status === 422) expect([context, c.fuzzyValidity, (body as Json).reason]).toEqual([context, true, "no_content"]);
            else expect([context, response.status]).toEqual([context, 400]);
          }
        }
      }),
      { seed: SEED, numRuns: NUM_RUNS, endOnFailure: true },
    );
    // eslint-disable-next-line no-console
    console.log(`fuzz-inbox kinds: ${JSON.stringify(Object.fromEntries(kinds))}`);
  }, 240_000);
});

/** Plain regression tests of what the fuzzing found (docs/reliability-fuzz-notes.md). */
describe("fuzz findings, fixed", () => {
  const inbox = () => `${parley.url}/users/bob/inbox`;
  const contentOfStored = async (objectId: string) => {
    const sql = parley.parley.deps.db.$client;
    const [row] = await sql`SELECT content FROM messages WHERE uri = ${objectId}`;
    return row?.content as string | undefined;
  };

  it("a NUL, a lone surrogate in content: 202 and stored with U+FFFD (was a 500: jsonb refuses both)", async () => {
    const activity = base({ content: "a\u0000b\ud800c\udc00d" });
    const response = await signedPost(inbox(), activity, sender);
    expect(response.status).toBe(202);
    await settled(parley);
    expect(await contentOfStored(activity.object.id)).toBe("a\ufffdb\ufffdc\ufffdd");
  });

  it("a NUL in a key and in an Emoji name: 202, not a 500", async () => {
    const activity = base({ tag: [{ type: "Emoji", name: ":\u0000:", icon: 5 }], "x\u0000y": "z" });
    expect((await signedPost(inbox(), activity, sender)).status).toBe(202);
    await settled(parley);
  });

  it("a Delete naming an object id with a NUL: 202, nothing stored (was a 500)", async () => {
    const before = await stored(parley);
    const del = {
      "@context": "https://www.w3.org/ns/activitystreams",
      id: `${remote.url}/activities/del-nul`,
      type: "Delete",
      actor: sender.id,
      to: [bobUri],
      object: `${remote.url}/objects/never-${Date.now()}\u0000`,
    };
    expect((await signedPost(inbox(), del, sender)).status).toBe(202);
    expect(await stored(parley)).toEqual(before);
  });

  it("published is a number: 422 missing_published (Fedify threw a TypeError: was a 500)", async () => {
    const before = await stored(parley);
    const response = await signedPost(inbox(), base({ published: -1205087953 }), sender);
    expect([response.status, JSON.parse(response.body)]).toEqual([422, { error: "invalid_chat_message", reason: "missing_published" }]);
    expect(await stored(parley)).toEqual(before);
  });

  it("a body nested 5000 levels deep: 400 invalid_activity (JSON-LD expansion overflowed the stack: was a 500)", async () => {
    const before = await stored(parley);
    const text = JSON.stringify(base({ content: "@@" })).replace('"@@"', `${"[".repeat(5000)}"x"${"]".repeat(5000)}`);
    const response = await signedPost(inbox(), text, sender);
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ error: "invalid_activity" });
    expect(await stored(parley)).toEqual(before);
  });

  it("64 levels of nesting are still read", async () => {
    const text = JSON.stringify(base({ source: "@@" })).replace('"@@"', `${'{"a":'.repeat(58)}"x"${"}".repeat(58)}`);
    expect((await signedPost(inbox(), text, sender)).status).toBe(202);
    await settled(parley);
  });
});
