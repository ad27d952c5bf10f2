import { canonicalBase64, checkEnvelope, MAX_KEY_PACKAGE_BYTES, MAX_MLS_MESSAGE_BYTES } from "../../src/mls/envelope.js";

const ALICE = "https://a.example/users/alice";
const BOB = "https://b.example/users/bob";
const PUBLIC = "https://www.w3.org/ns/activitystreams#Public";

const base64Of = (size: number) => Buffer.alloc(size, 7).toString("base64");

function message(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: "PrivateMessage",
    attributedTo: ALICE,
    to: [BOB],
    mediaType: "message/mls",
    encoding: "base64",
    content: base64Of(40),
    ...overrides,
  };
}

const keyPackage = (overrides: Record<string, unknown> = {}) => message({ type: "KeyPackage", to: PUBLIC, ...overrides });

const reasonOf = (object: unknown, actor = ALICE) => {
  const result = checkEnvelope(object, actor);
  return result.ok ? "ok" : `${result.reason}@${result.field}`;
};

describe("checkEnvelope", () => {
  it("accepts a message to actors and returns its bytes and normalised recipients", () => {
    const result = checkEnvelope(message({ to: [BOB, "https://B.example/users/bob", { id: "https://c.example/u/c" }] }), ALICE);
    expect(result).toMatchObject({ ok: true, type: "PrivateMessage", recipients: [BOB, "https://c.example/u/c"], public: false });
    expect(result.ok && result.bytes).toEqual(new Uint8Array(40).fill(7));
  });

  it.each([
    ["PrivateMessage", "PrivateMessage"],
    [["Object", "PrivateMessage"], "PrivateMessage"],
    ["mls:Welcome", "Welcome"],
    ["https://purl.archive.org/socialweb/mls#GroupInfo", "GroupInfo"],
    [["PublicMessage"], "PublicMessage"],
  ])("reads the type %j", (type, expected) => {
    expect(checkEnvelope(message({ type }), ALICE)).toMatchObject({ ok: true, type: expected });
  });

  it("accepts http actors (development setups) and a string `to`", () => {
    expect(
      reasonOf(
        message({ attributedTo: "http://localhost:3000/users/a", to: "http://localhost:3001/users/b" }),
        "http://localhost:3000/users/a",
      ),
    ).toBe("ok");
  });

  it.each([
    ["not an object", "x", "not_an_object@object"],
    ["a Note", message({ type: "Note" }), "unknown_type@type"],
    ["two MLS types", message({ type: ["Welcome", "PrivateMessage"] }), "unknown_type@type"],
    ["another media type", message({ mediaType: "text/plain" }), "bad_media_type@mediaType"],
    ["no media type", message({ mediaType: undefined }), "bad_media_type@mediaType"],
    ["another encoding", message({ encoding: "base64url" }), "bad_encoding@encoding"],
    ["no content", message({ content: undefined }), "bad_base64@content"],
    ["empty content", message({ content: "" }), "bad_base64@content"],
    ["unpadded base64", message({ content: "AAEC" + "AA" }), "bad_base64@content"],
    ["url-safe base64", message({ content: "-_-_" }), "bad_base64@content"],
    ["whitespace in base64", message({ content: "AAEC\nAAEC" }), "bad_base64@content"],
    ["non-zero trailing bits", message({ content: "AB==" }), "bad_base64@content"],
    ["a message over 192 KiB", message({ content: base64Of(MAX_MLS_MESSAGE_BYTES + 1) }), "too_large@content"],
    ["a KeyPackage over 32 KiB", keyPackage({ content: base64Of(MAX_KEY_PACKAGE_BYTES + 1) }), "too_large@content"],
    ["a huge string", message({ content: "A".repeat(10_000_000) }), "too_large@content"],
    ["another author", message({ attributedTo: BOB }), "attributed_to_mismatch@attributedTo"],
    ["no author", message({ attributedTo: undefined }), "attributed_to_mismatch@attributedTo"],
    ["two authors", message({ attributedTo: [ALICE, BOB] }), "attributed_to_mismatch@attributedTo"],
    ["Public as a full IRI", message({ to: [BOB, PUBLIC] }), "public_not_allowed@to"],
    ["as:Public", message({ to: ["as:Public"] }), "public_not_allowed@to"],
    ["Public", message({ to: "Public" }), "public_not_allowed@to"],
    ["Public over http", message({ to: ["http://www.w3.org/ns/activitystreams#Public"] }), "public_not_allowed@to"],
    ["Public in cc", message({ cc: [PUBLIC] }), "public_not_allowed@cc"],
    ["no `to`", message({ to: undefined }), "no_recipients@to"],
    ["an empty `to`", message({ to: [] }), "no_recipients@to"],
    ["a recipient that is not a URL", message({ to: [BOB, "bob@b.example"] }), "bad_recipient@to"],
    ["a non-http recipient", message({ to: ["acct:bob@b.example"] }), "bad_recipient@to"],
    ["a number as recipient", message({ to: [3] }), "bad_recipient@to"],
  ])("refuses %s", (_name, object, expected) => {
    expect(reasonOf(object)).toBe(expected);
  });

  it("expects Public on a KeyPackage and needs no recipient there", () => {
    expect(checkEnvelope(keyPackage(), ALICE)).toMatchObject({ ok: true, type: "KeyPackage", public: true, recipients: [] });
    expect(checkEnvelope(keyPackage({ to: "as:Public" }), ALICE)).toMatchObject({ ok: true, public: true });
    expect(checkEnvelope(keyPackage({ to: undefined }), ALICE)).toMatchObject({ ok: true, public: false });
    expect(reasonOf(keyPackage({ content: base64Of(MAX_KEY_PACKAGE_BYTES) }))).toBe("ok");
    expect(reasonOf(message({ content: base64Of(MAX_MLS_MESSAGE_BYTES) }))).toBe("ok");
  });

  it("accepts media type and encoding in any case, media type parameters ignored", () => {
    expect(reasonOf(message({ mediaType: "Message/MLS; charset=binary", encoding: "Base64" }))).toBe("ok");
  });
});

describe("canonicalBase64", () => {
  it("round-trips every length and refuses any other spelling", () => {
    for (let size = 1; size < 10; size++) {
      const bytes = new Uint8Array(size).map((_, i) => i * 37);
      const text = Buffer.from(bytes).toString("base64");
      expect(canonicalBase64(text)).toEqual(bytes);
      expect(canonicalBase64(` ${text}`)).toBeUndefined();
      if (text.endsWith("=")) expect(canonicalBase64(text.replace(/=+$/, ""))).toBeUndefined();
    }
  });
});
