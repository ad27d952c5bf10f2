import { messageFields } from "../../src/federation/inbox/apply/message-fields.js";

/** The message columns of a remote ChatMessage object, as the inbound worker stores them. */

const message = (extra: Record<string, unknown>) => ({
  type: "ChatMessage",
  id: "https://remote.example/objects/1",
  attributedTo: "https://remote.example/users/alice",
  to: ["https://parley.example/users/bob"],
  published: "2026-12-01T10:00:00Z",
  ...extra,
});

describe("messageFields", () => {
  it("keeps the sanitized content, its first link and no attachment", () => {
    const fields = messageFields(message({ content: '<p>see <a href="https://x.example/a">x</a></p><script>bad()</script>' }));
    expect(fields.content).toContain("https://x.example/a");
    expect(fields.content).not.toContain("script");
    expect(fields.linkUrl).toBe("https://x.example/a");
    expect(fields.emojis).toEqual([]);
    expect(fields.remoteAttachment).toBeNull();
  });

  it("has null content when nothing visible is left", () => {
    const fields = messageFields(message({ content: "<p> </p>", attachment: { type: "Document", url: "https://remote.example/a.png" } }));
    expect(fields.content).toBeNull();
    expect(fields.linkUrl).toBeNull();
  });

  it("reads the content of a contentMap", () => {
    expect(messageFields(message({ contentMap: { en: "hello" } })).content).toBe("hello");
  });

  it("renders the first attachment as a Pleroma attachment of the remote URL", () => {
    const fields = messageFields(
      message({
        content: "pic",
        attachment: [
          {
            type: "Document",
            mediaType: "image/png",
            url: "https://remote.example/media/a.png",
            name: "a cat",
            width: 640,
            height: 480,
          },
          { type: "Document", mediaType: "image/png", url: "https://remote.example/media/b.png" },
        ],
      }),
    );
    expect(fields.remoteAttachment).toMatchObject({
      type: "image",
      url: "https://remote.example/media/a.png",
      remote_url: "https://remote.example/media/a.png",
      preview_url: "https://remote.example/media/a.png",
      text_url: null,
      description: "a cat",
      blurhash: null,
      meta: { original: { width: 640, height: 480 } },
      pleroma: { mime_type: "image/png" },
    });
    expect(fields.remoteAttachment?.id).toEqual(expect.any(String));
  });

  it("leaves out dimensions it does not have both of", () => {
    const fields = messageFields(message({ content: "x", attachment: { type: "Image", url: "https://remote.example/a", width: 10 } }));
    expect(fields.remoteAttachment?.meta).toEqual({});
  });

  it("keeps the custom emoji of its tags", () => {
    const fields = messageFields(
      message({
        content: ":blob:",
        tag: [{ type: "Emoji", name: ":blob:", icon: { type: "Image", url: "https://remote.example/blob.png" } }],
      }),
    );
    expect(fields.emojis).toEqual([
      {
        shortcode: "blob",
        url: "https://remote.example/blob.png",
        static_url: "https://remote.example/blob.png",
        visible_in_picker: false,
      },
    ]);
  });

  it("stores no emoji when one is invalid (the inbox refused such a message already)", () => {
    const fields = messageFields(message({ content: "x", tag: [{ type: "Emoji", name: ":a:", icon: "ftp://remote.example/a.png" }] }));
    expect(fields.emojis).toEqual([]);
  });
});
