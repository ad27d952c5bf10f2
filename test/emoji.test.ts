import { access, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { chatHelpers } from "./helpers/chats.js";
import { gif, html, mp4, png, uploadEmoji } from "./helpers/media.js";
import { api, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Custom emoji: the admin adds them (`POST /api/v1/admin/custom_emojis`, an image by content),
 * everyone lists them (`GET /api/v1/custom_emojis`), `:shortcode:` in a local message shows them.
 */

let parley: TestParley;
const { account, as, chatWith, send } = chatHelpers(() => parley);

beforeAll(async () => {
  parley = await startTestParley();
});
afterAll(async () => {
  await parley?.close();
});

describe("custom emoji", () => {
  it("adds an emoji from an image, lists it, serves it under /media/emoji/", async () => {
    const file = png(8, 8);
    const created = await uploadEmoji(parley.url, parley.adminToken, "blob", file, "../../blob.html");
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      shortcode: "blob",
      url: expect.stringMatching(new RegExp(`^${parley.url}/media/emoji/[0-9a-z]{26}\\.png$`)),
      static_url: created.body.url,
      visible_in_picker: true,
      category: null,
    });
    const served = await fetch(created.body.url);
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/png");
    expect(served.headers.get("x-content-type-options")).toBe("nosniff");
    expect(Buffer.from(await served.arrayBuffer())).toEqual(file);

    const form = new FormData();
    form.set("shortcode", ":party_cat:");
    form.set("category", "cats");
    form.set("file", new Blob([new Uint8Array(gif())]), "party.gif");
    const second = await api(parley.url, parley.adminToken).post("/api/v1/admin/custom_emojis", form);
    expect(second).toMatchObject({ status: 201, body: { shortcode: "party_cat", category: "cats", url: expect.stringMatching(/\.gif$/) } });

    // Public: no token needed.
    const list = await api(parley.url).get("/api/v1/custom_emojis");
    expect(list.status).toBe(200);
    expect(list.body).toEqual([created.body, second.body]);
  });

  it.each([
    ["too short", "a"],
    ["a dash", "bad-code"],
    ["a space", "two words"],
    ["too long", "x".repeat(65)],
    ["missing", undefined],
  ])("refuses a shortcode that is %s with 422 invalid_shortcode", async (_case, shortcode) => {
    const response = await uploadEmoji(parley.url, parley.adminToken, shortcode, png());
    expect(response).toMatchObject({ status: 422, body: { error: "invalid_shortcode" } });
  });

  it("refuses a duplicate shortcode with 409 shortcode_taken, and keeps the first", async () => {
    expect((await uploadEmoji(parley.url, parley.adminToken, "twice", png())).status).toBe(201);
    const again = await uploadEmoji(parley.url, parley.adminToken, "twice", gif());
    expect(again).toMatchObject({ status: 409, body: { error: "shortcode_taken" } });
    const list = (await api(parley.url).get("/api/v1/custom_emojis")).body;
    expect(list.filter((e: { shortcode: string }) => e.shortcode === "twice")).toEqual([
      expect.objectContaining({ url: expect.stringMatching(/\.png$/) }),
    ]);
  });

  it("refuses what is not an image by its content with 422 unsupported_media_type", async () => {
    for (const data of [html(), mp4()]) {
      const response = await uploadEmoji(parley.url, parley.adminToken, "notimage", data, "fake.png");
      expect(response).toMatchObject({ status: 422, body: { error: "unsupported_media_type" } });
    }
    expect((await api(parley.url).get("/api/v1/custom_emojis")).body.map((e: { shortcode: string }) => e.shortcode)).not.toContain(
      "notimage",
    );
    // Refused uploads leave nothing behind, not even their temporary file.
    const media = path.join(parley.parley.deps.config.dataDir, "media");
    expect(await readdir(path.join(media, "tmp"))).toEqual([]);
    expect((await readdir(path.join(media, "emoji"))).every((name) => /^[0-9a-z]{26}\.(png|gif)$/.test(name))).toBe(true);
  });

  it("answers 401 without the admin token, 403 to a user's token", async () => {
    const user = await account("user");
    expect(await uploadEmoji(parley.url, undefined, "nope", png())).toMatchObject({ status: 401, body: { error: "missing_token" } });
    expect(await uploadEmoji(parley.url, user.token, "nope", png())).toMatchObject({ status: 403, body: { error: "forbidden" } });
    expect((await api(parley.url, user.token).delete("/api/v1/admin/custom_emojis/blob")).status).toBe(403);
  });

  it("puts :shortcode: emoji in a local message's emojis, on both participants' side", async () => {
    const [alice, bob] = [await account("alice"), await account("bob")];
    const chatId = await chatWith(alice, bob);
    const message = await send(alice, chatId, "hello :blob: and :unknown: and :blob:");
    expect(message.content).toBe("hello :blob: and :unknown: and :blob:");
    const blob = (await api(parley.url).get("/api/v1/custom_emojis")).body.find((e: { shortcode: string }) => e.shortcode === "blob");
    expect(message.emojis).toEqual([{ shortcode: "blob", url: blob.url, static_url: blob.url, visible_in_picker: false }]);
    const bobChat = (await as(bob).get("/api/v1/pleroma/chats")).body[0];
    expect(bobChat.last_message.emojis).toEqual(message.emojis);
  });

  it("removes an emoji and its file; an unknown shortcode is a 404", async () => {
    const created = await uploadEmoji(parley.url, parley.adminToken, "gone_soon", png());
    const file = path.join(parley.parley.deps.config.dataDir, "media", new URL(created.body.url).pathname.replace(/^\/media\//, ""));
    expect(await readFile(file)).toBeTruthy();
    const removed = await api(parley.url, parley.adminToken).delete("/api/v1/admin/custom_emojis/gone_soon");
    expect(removed).toMatchObject({ status: 200, body: { shortcode: "gone_soon" } });
    await expect(access(file)).rejects.toThrow();
    expect((await fetch(created.body.url)).status).toBe(404);
    expect((await api(parley.url, parley.adminToken).delete("/api/v1/admin/custom_emojis/gone_soon")).status).toBe(404);
  });
});
