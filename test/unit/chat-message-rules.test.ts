import { parsePublished, recipientsOf } from "../../src/federation/as-json.js";
import { emojisOf, firstAttachment, looksLikeChatMessage, sanitizedContent } from "../../src/federation/inbox/chat-message-rules.js";

/** The readers behind the inbox rules (pure; the HTTP side is in inbox-rules.test.ts). */

describe("parsePublished", () => {
  it.each([
    ["2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000Z"],
    ["2024-05-01T12:00:00.123456Z", "2024-05-01T12:00:00.123Z"],
    ["2024-05-01T12:00:00.123456+00:00", "2024-05-01T12:00:00.123Z"],
    ["2024-05-01T14:00:00+02:00", "2024-05-01T12:00:00.000Z"],
    ["2024-05-01T07:30:00-0430", "2024-05-01T12:00:00.000Z"],
    ["2024-05-01T12:00:00", "2024-05-01T12:00:00.000Z"],
    ["2024-05-01T12:00Z", "2024-05-01T12:00:00.000Z"],
  ])("%s → %s", (input, expected) => {
    expect(parsePublished(input)?.toISOString()).toBe(expected);
  });

  it.each([undefined, 12, "", "yesterday", "2024-05-01", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-05-01T24:00:00Z"])(
    "refuses %p",
    (input) => {
      expect(parsePublished(input)).toBeUndefined();
    },
  );
});

describe("recipientsOf", () => {
  it("casts a string, drops non-URLs, de-duplicates and normalises", () => {
    expect(recipientsOf("https://a.example/users/x")).toEqual(["https://a.example/users/x"]);
    expect(recipientsOf(["https://A.example/users/x", "https://a.example/users/x", "Public", 3, { id: "https://b.example/u" }])).toEqual([
      "https://a.example/users/x",
      "https://b.example/u",
    ]);
    expect(recipientsOf(undefined)).toEqual([]);
  });
});

describe("looksLikeChatMessage", () => {
  it("knows every spelling, and nothing else", () => {
    for (const type of [
      "ChatMessage",
      ["ChatMessage"],
      "litepub:ChatMessage",
      "http://litepub.social/ns#ChatMessage",
      ["Note", "ChatMessage"],
    ]) {
      expect(looksLikeChatMessage({ type })).toBe(true);
    }
    for (const object of [{ type: "Note" }, "https://a.example/objects/1", null, { type: "NotAChatMessageThing" }]) {
      expect(looksLikeChatMessage(object)).toBe(false);
    }
  });
});

describe("firstAttachment", () => {
  it("reads Pleroma's Link list, honk's string url, a bare href; keeps the first; [] is none", () => {
    expect(
      firstAttachment({
        attachment: {
          type: "Document",
          mediaType: "image/png",
          url: [{ type: "Link", href: "https://a.example/x.png", mediaType: "image/png" }],
        },
      }),
    ).toMatchObject({ url: "https://a.example/x.png", kind: "image", mediaType: "image/png" });
    expect(
      firstAttachment({
        attachment: [{ type: "Document", mediaType: "audio/ogg", url: "https://h.example/a.ogg" }, { url: "https://h.example/b" }],
      }),
    ).toMatchObject({
      url: "https://h.example/a.ogg",
      kind: "audio",
    });
    expect(firstAttachment({ attachment: { type: "Video", href: "https://a.example/v" } })).toMatchObject({
      kind: "video",
      mediaType: "application/octet-stream",
    });
    expect(firstAttachment({ attachment: [] })).toBeUndefined();
    expect(firstAttachment({ attachment: { type: "Document", url: "javascript:alert(1)" } })).toBeUndefined();
  });
});

describe("emojisOf", () => {
  it("takes Emoji tags with http(s) icons, skips those without, refuses other schemes", () => {
    const icon = (url: unknown) => ({ type: "Image", url });
    expect(
      emojisOf({
        tag: [
          { type: "Mention", href: "https://b.example/u" },
          { type: "Emoji", name: ":blob:", icon: icon("https://a.example/blob.png") },
          { type: "Emoji", name: ":noicon:" },
        ],
      }),
    ).toEqual([
      { shortcode: "blob", url: "https://a.example/blob.png", static_url: "https://a.example/blob.png", visible_in_picker: false },
    ]);
    expect(emojisOf({ tag: { type: "Emoji", name: "x", icon: icon("ftp://a.example/x.png") } })).toBeUndefined();
    expect(emojisOf({})).toEqual([]);
  });
});

describe("sanitizedContent", () => {
  it("keeps the allowed markup, drops scripts, handlers and images; nothing visible is null", () => {
    expect(
      sanitizedContent({ content: '<p onclick="x()">hi <script>alert(1)</script><img class="emoji" src="https://a.example/e.png"></p>' }),
    ).toBe("<p>hi </p>");
    // An image is nothing to read: emoji come as tags, their `:shortcode:` stays in the text.
    expect(sanitizedContent({ content: '<img class="emoji" src="https://a.example/e.png" alt=":e:">' })).toBeNull();
    expect(sanitizedContent({ content: "<p> </p>" })).toBeNull();
    expect(sanitizedContent({ contentMap: { en: "hello" } })).toBe("hello");
    expect(sanitizedContent({})).toBeNull();
  });
});
