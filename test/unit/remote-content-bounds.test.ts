import type { Json } from "../../src/federation/as-json.js";
import {
  checkCreateChatMessage,
  checkUpdatedChatMessage,
  emojisOf,
  firstAttachment,
} from "../../src/federation/inbox/chat-message-rules.js";
import {
  boundedStoredAttachment,
  MAX_DESCRIPTION_CHARS,
  namesPrivateAddress,
  renderableEmojis,
  validBlurhash,
} from "../../src/federation/inbox/remote-content-bounds.js";

/**
 * Remote content is bounded at the door (issue 13): emoji names, emoji and attachment URLs,
 * attachment descriptions, blurhashes and dimensions, and the length of the sanitized content.
 * The same bounds through a signed inbox POST: test/remote-content-bounds.test.ts.
 */

const HOSTILE_NAME = 'x" onerror="alert`1`" y="';
const VALID_BLURHASH = "LEHV6nWB2yk8pyo0adR*.7kCMdnj";

const emoji = (name: string, url = "https://e.example/e.png") => ({ type: "Emoji", name, icon: { type: "Image", url } });
const image = (fields: Json = {}) => ({ type: "Document", mediaType: "image/png", url: "https://m.example/a.png", ...fields });

describe("emoji names", () => {
  it("keeps [A-Za-z0-9_]+ names and drops every other one from the list", () => {
    const emojis = emojisOf({
      tag: [emoji(`:${HOSTILE_NAME}:`), emoji(":<b>:"), emoji(":blob-cat:"), emoji(":ok_1:"), emoji(":é:"), emoji("::")],
    });
    expect(emojis?.map((e) => e.shortcode)).toEqual(["ok_1"]);
  });

  it("still refuses a message whose Emoji icon is not http(s), whatever its name", () => {
    expect(emojisOf({ tag: emoji(HOSTILE_NAME, "javascript:alert(1)") })).toBeUndefined();
  });
});

describe("attachment bounds", () => {
  it("cuts a 50,000-character description to 1,500 characters, whole code points", () => {
    expect(firstAttachment({ attachment: image({ name: "d".repeat(50_000) }) })?.description).toBe("d".repeat(MAX_DESCRIPTION_CHARS));
    const astral = firstAttachment({ attachment: image({ name: "😀".repeat(2_000) }) })?.description;
    expect([...(astral ?? "")]).toHaveLength(MAX_DESCRIPTION_CHARS);
    expect(astral).toBe("😀".repeat(MAX_DESCRIPTION_CHARS));
  });

  it("keeps a well-formed blurhash and nulls any other", () => {
    expect(firstAttachment({ attachment: image({ blurhash: VALID_BLURHASH }) })?.blurhash).toBe(VALID_BLURHASH);
    for (const blurhash of [
      "not a blurhash",
      VALID_BLURHASH.slice(0, -1),
      `${VALID_BLURHASH}A`,
      "LEHV6nWB2yk8pyo0adR*.7kCMdn<",
      "",
      12,
      "~".repeat(166),
    ]) {
      expect(firstAttachment({ attachment: image({ blurhash }) })?.blurhash).toBeNull();
    }
    // One component each way: 6 characters.
    expect(validBlurhash("00AAAA")).toBe("00AAAA");
  });

  it("drops dimensions that are not positive and at most 16384 each", () => {
    expect(firstAttachment({ attachment: image({ width: 640, height: 480 }) })).toMatchObject({ width: 640, height: 480 });
    expect(firstAttachment({ attachment: image({ width: 16_384, height: 16_384 }) })).toMatchObject({ width: 16_384, height: 16_384 });
    for (const [width, height] of [
      [1e6, 1e6],
      [16_385, 10],
      [0, 10],
      [-5, 10],
      [1e300, 1],
      [Number.NaN, 1],
      ["640", 480],
    ]) {
      const attachment = firstAttachment({ attachment: image({ width, height }) });
      expect(attachment).toBeDefined();
      expect(attachment).not.toHaveProperty("width");
      expect(attachment).not.toHaveProperty("height");
    }
  });
});

describe("URLs a client loads", () => {
  it.each([
    ["http://127.0.0.1:8080/e.png", true],
    ["https://localhost/e.png", true],
    ["https://media.localhost/e.png", true],
    ["https://printer.local/e.png", true],
    ["https://[::1]/e.png", true],
    ["https://[::ffff:127.0.0.1]/e.png", true],
    ["https://10.1.2.3/e.png", true],
    ["https://192.168.0.1/e.png", true],
    ["https://169.254.169.254/latest/meta-data", true],
    ["https://0.0.0.0/e.png", true],
    ["http://2130706433/e.png", true],
    ["https://localhost./e.png", true],
    ["https://media.example/e.png", false],
    ["https://93.184.215.14/e.png", false],
  ])("%s names a private address: %p", (url, expected) => {
    expect(namesPrivateAddress(url)).toBe(expected);
  });

  const bob = { acceptsChatMessages: true };
  const check = (object: Json, allowPrivateAddress = false) =>
    checkCreateChatMessage({
      activity: { type: "Create", actor: "https://r.example/users/a", to: ["https://l.example/users/bob"], object },
      object: {
        type: "ChatMessage",
        id: "https://r.example/objects/1",
        attributedTo: "https://r.example/users/a",
        to: ["https://l.example/users/bob"],
        published: "2026-12-03T10:00:00Z",
        content: "hi :e:",
        ...object,
      },
      actorUri: "https://r.example/users/a",
      remoteMessageLimit: 1000,
      allowPrivateAddress,
      findLocalRecipient: async () => bob,
    });

  it("refuses an emoji image on a loopback address (bad_emoji) and an attachment on a private one (bad_attachment)", async () => {
    expect(await check({ tag: emoji(":e:", "http://127.0.0.1/e.png") })).toEqual({ ok: false, reason: "bad_emoji" });
    expect(await check({ attachment: image({ url: "https://192.168.1.1/a.png" }) })).toEqual({ ok: false, reason: "bad_attachment" });
    expect(await check({ attachment: image({ url: [{ type: "Link", href: "http://localhost/a.png" }] }) })).toEqual({
      ok: false,
      reason: "bad_attachment",
    });
    expect(await check({ tag: emoji(":e:"), attachment: image() })).toMatchObject({ ok: true });
    // An emoji dropped for its name is no longer passed on: its URL does not matter.
    expect(await check({ tag: emoji(":a-b:", "http://127.0.0.1/e.png") })).toMatchObject({ ok: true });
  });

  it("lets a development peer on a private address (ALLOW_PRIVATE_ADDRESS=true) send URLs of its own origin only", async () => {
    const peer = "http://127.0.0.1:4000";
    const fromPeer = (object: Json) =>
      checkCreateChatMessage({
        activity: { type: "Create", actor: `${peer}/users/a`, to: ["https://l.example/users/bob"], object },
        object: {
          type: "ChatMessage",
          id: `${peer}/objects/1`,
          attributedTo: `${peer}/users/a`,
          to: ["https://l.example/users/bob"],
          published: "2026-12-03T10:00:00Z",
          content: "hi :e:",
          ...object,
        },
        actorUri: `${peer}/users/a`,
        remoteMessageLimit: 1000,
        allowPrivateAddress: true,
        findLocalRecipient: async () => bob,
      });
    expect(await fromPeer({ tag: emoji(":e:", `${peer}/e.png`), attachment: image({ url: `${peer}/a.png` }) })).toMatchObject({ ok: true });
    expect(await fromPeer({ attachment: image({ url: "http://169.254.169.254/latest/meta-data" }) })).toEqual({
      ok: false,
      reason: "bad_attachment",
    });
    expect(await fromPeer({ attachment: image({ url: "http://127.0.0.1:6379/a.png" }) })).toEqual({ ok: false, reason: "bad_attachment" });
    expect(await fromPeer({ tag: emoji(":e:", "http://10.0.0.1/e.png") })).toEqual({ ok: false, reason: "bad_emoji" });
  });

  it("holds for edits too", () => {
    const edit = { type: "ChatMessage", id: "https://r.example/objects/1", attributedTo: "https://r.example/users/a", content: "x" };
    const policy = { remoteMessageLimit: 1000, allowPrivateAddress: false };
    expect(
      checkUpdatedChatMessage({ ...edit, attachment: image({ url: "http://10.0.0.1/a.png" }) }, "https://r.example/users/a", policy),
    ).toBe("bad_attachment");
    expect(checkUpdatedChatMessage({ ...edit, tag: emoji(":e:", "https://[::1]/e.png") }, "https://r.example/users/a", policy)).toBe(
      "bad_emoji",
    );
    expect(checkUpdatedChatMessage({ ...edit, content: '"'.repeat(200) }, "https://r.example/users/a", policy)).toBe("content_too_long");
  });
});

describe("rows stored before the bounds", () => {
  it("render without hostile emoji, outsized descriptions, invalid blurhashes or dimensions", () => {
    const emojis = [
      { shortcode: HOSTILE_NAME, url: "https://e.example/x.png", static_url: "https://e.example/x.png", visible_in_picker: false },
      { shortcode: "ok", url: "https://e.example/ok.png", static_url: "https://e.example/ok.png", visible_in_picker: false },
      { shortcode: "js", url: "javascript:alert(1)", static_url: "javascript:alert(1)", visible_in_picker: false },
    ];
    expect(renderableEmojis(emojis).map((e) => e.shortcode)).toEqual(["ok"]);
    const attachment = {
      id: "a",
      url: "https://m.example/a.png",
      description: "d".repeat(50_000),
      blurhash: "nope",
      meta: { original: { width: 1e6, height: 1e6 } },
    };
    expect(boundedStoredAttachment(attachment)).toEqual({ ...attachment, description: "d".repeat(1_500), blurhash: null, meta: {} });
    const fine = {
      id: "b",
      url: "https://m.example/b.png",
      description: "alt",
      blurhash: VALID_BLURHASH,
      meta: { original: { width: 10, height: 10 } },
    };
    expect(boundedStoredAttachment(fine)).toBe(fine);
    expect(boundedStoredAttachment(null)).toBeNull();
  });
});
