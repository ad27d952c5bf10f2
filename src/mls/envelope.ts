import { type MlsType, mlsTypeOf } from "./vocabulary.js";

/**
 * The envelope of an MLS object, checked on its compact JSON as the sender wrote it (never after
 * JSON-LD expansion, which would turn `ciphersuite` into an IRI): what Parley can say about an
 * object before looking at its bytes. docs/mls.md lists the reason codes.
 */

export const ENVELOPE_REASONS = [
  "not_an_object",
  "unknown_type",
  "bad_media_type",
  "bad_encoding",
  "bad_base64",
  "too_large",
  "attributed_to_mismatch",
  "public_not_allowed",
  "no_recipients",
  "bad_recipient",
] as const;

export type EnvelopeReason = (typeof ENVELOPE_REASONS)[number];

/** Decoded `content` of a KeyPackage: room for post-quantum suites (about 15 KB) with margin. */
export const MAX_KEY_PACKAGE_BYTES = 32 * 1024;

/** Decoded `content` of any other MLS object; the inbox's body cap (256 KiB) leaves room for the JSON around it. */
export const MAX_MLS_MESSAGE_BYTES = 192 * 1024;

export type EnvelopeFailure = { ok: false; reason: EnvelopeReason; field: string; detail?: string };

export type Envelope = {
  ok: true;
  type: MlsType;
  /** The decoded `content`. */
  bytes: Uint8Array;
  /** The actors in `to`, normalised (`URL.href`), de-duplicated, Public left out. */
  recipients: string[];
  /** Whether `to` names the Public collection (allowed, and expected, on a KeyPackage only). */
  public: boolean;
};

export type EnvelopeResult = Envelope | EnvelopeFailure;

const PUBLIC_SPELLINGS = new Set(["https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"]);

/** Addressing properties where Public is refused on a message, even though Parley delivers to `to` only. */
const OTHER_AUDIENCE = ["cc", "bto", "bcc", "audience"] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The id of a reference: a string, or an embedded object's `id`. */
function idOf(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (isRecord(value) && typeof value.id === "string") return value.id;
  return undefined;
}

function isPublic(id: string): boolean {
  return PUBLIC_SPELLINGS.has(id) || PUBLIC_SPELLINGS.has(id.replace(/^http:\/\//, "https://"));
}

/** An http(s) URL with a host, as `URL.href`; http is accepted for development setups with private addresses. */
export function actorUrl(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  try {
    const url = new URL(value);
    return (url.protocol === "https:" || url.protocol === "http:") && url.host !== "" ? url.href : undefined;
  } catch {
    return undefined;
  }
}

function listOf(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** A media type compared without its parameters and case (`Message/MLS; x=1` is `message/mls`). */
function isMlsMediaType(value: unknown): boolean {
  return typeof value === "string" && value.split(";")[0].trim().toLowerCase() === "message/mls";
}

/**
 * Bytes of a canonical base64 string (standard alphabet, padded, no whitespace, zero trailing bits),
 * or undefined. Canonical means re-encoding gives back the same string, so one byte sequence has
 * one spelling and nobody can smuggle data in the slack of a lenient decoder.
 */
export function canonicalBase64(text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const buffer = Buffer.from(text, "base64");
  if (buffer.toString("base64") !== text) return undefined;
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Base64 characters needed for `bytes` decoded bytes: a cheap bound checked before decoding. */
const base64Length = (bytes: number) => 4 * Math.ceil(bytes / 3);

function fail(reason: EnvelopeReason, field: string, detail?: string): EnvelopeFailure {
  return detail === undefined ? { ok: false, reason, field } : { ok: false, reason, field, detail };
}

/**
 * Checks the envelope of an MLS object sent by `actor` (the activity's actor, already
 * authenticated by the caller). A KeyPackage is public and needs no recipient; every other type
 * must name at least one actor in `to` and never the Public collection.
 */
export function checkEnvelope(object: unknown, actor: string): EnvelopeResult {
  if (!isRecord(object)) return fail("not_an_object", "object");
  const type = mlsTypeOf(object);
  if (type === undefined) return fail("unknown_type", "type");
  if (!isMlsMediaType(object.mediaType)) return fail("bad_media_type", "mediaType");
  if (typeof object.encoding !== "string" || object.encoding.toLowerCase() !== "base64") return fail("bad_encoding", "encoding");

  const content = object.content;
  if (typeof content !== "string") return fail("bad_base64", "content", "content is not a string");
  const limit = type === "KeyPackage" ? MAX_KEY_PACKAGE_BYTES : MAX_MLS_MESSAGE_BYTES;
  if (content.length > base64Length(limit)) return fail("too_large", "content", `more than ${limit} bytes`);
  const bytes = canonicalBase64(content);
  if (bytes === undefined) return fail("bad_base64", "content");
  if (bytes.byteLength > limit) return fail("too_large", "content", `${bytes.byteLength} bytes, limit ${limit}`);

  const attributedTo = listOf(object.attributedTo).map((entry) => actorUrl(idOf(entry)));
  const sender = actorUrl(actor);
  if (sender === undefined || attributedTo.length !== 1 || attributedTo[0] !== sender) {
    return fail("attributed_to_mismatch", "attributedTo");
  }

  const recipients: string[] = [];
  let isPublicObject = false;
  for (const entry of listOf(object.to)) {
    const id = idOf(entry);
    if (id !== undefined && isPublic(id)) {
      if (type !== "KeyPackage") return fail("public_not_allowed", "to");
      isPublicObject = true;
      continue;
    }
    const url = actorUrl(id);
    if (url === undefined) return fail("bad_recipient", "to", typeof id === "string" ? id.slice(0, 200) : "not a URL");
    if (!recipients.includes(url)) recipients.push(url);
  }
  if (type !== "KeyPackage") {
    for (const field of OTHER_AUDIENCE) {
      if (listOf(object[field]).some((entry) => isPublic(idOf(entry) ?? ""))) return fail("public_not_allowed", field);
    }
    if (recipients.length === 0) return fail("no_recipients", "to");
  }
  return { ok: true, type, bytes, recipients, public: isPublicObject };
}
