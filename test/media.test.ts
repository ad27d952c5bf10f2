import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { chatHelpers } from "./helpers/chats.js";
import { gif, html, jpeg, mp4, ogg, png, upload } from "./helpers/media.js";
import { api, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Uploads (`POST /api/v1|v2/media`): typed by content, capped at MEDIA_MAX_BYTES (2048 here), stored
 * as `<id>.<ext>` under DATA_DIR/media, served with their checked type and safe headers, and sent
 * in chat messages (attachment-only too) and through the C2S outbox.
 */

let parley: TestParley;
const { account, as, chatWith } = chatHelpers(() => parley);
const mediaDir = () => path.join(parley.parley.deps.config.dataDir, "media");

beforeAll(async () => {
  parley = await startTestParley({ env: { MEDIA_MAX_BYTES: "2048" } });
});
afterAll(async () => {
  await parley?.close();
});

describe("POST /api/v1/media", () => {
  it("stores a real PNG as <id>.png, whatever the client named it, and answers a MediaAttachment", async () => {
    const alice = await account("alice");
    const file = png(3, 2);
    const response = await upload(parley.url, alice.token, file, "../../evil.html", { description: "a tiny gradient" });
    expect(response.status).toBe(200);
    const { id } = response.body;
    expect(response.body).toEqual({
      id,
      type: "image",
      url: `${parley.url}/media/${id}.png`,
      remote_url: null,
      preview_url: `${parley.url}/media/${id}.png`,
      text_url: `${parley.url}/media/${id}.png`,
      description: "a tiny gradient",
      blurhash: null,
      meta: { original: { width: 3, height: 2, size: "3x2", aspect: 1.5 } },
      pleroma: { mime_type: "image/png" },
    });
    expect(await readFile(path.join(mediaDir(), `${id}.png`))).toEqual(file);
    // Nothing is left in the temporary folder, and nothing was written under the client's name.
    expect(await readdir(path.join(mediaDir(), "tmp"))).toEqual([]);
    expect((await readdir(mediaDir())).filter((name) => name.includes("evil"))).toEqual([]);
  });

  it.each([
    ["JPEG", jpeg, "image", "image/jpeg", "jpg", { original: { width: 4, height: 3, size: "4x3", aspect: 4 / 3 } }],
    ["GIF", gif, "image", "image/gif", "gif", { original: { width: 5, height: 7, size: "5x7", aspect: 5 / 7 } }],
    ["MP4", mp4, "video", "video/mp4", "mp4", {}],
    ["Ogg Vorbis", ogg, "audio", "audio/ogg", "ogg", {}],
  ])("types a %s by its magic bytes, whatever its name", async (_name, make, type, mime, ext, meta) => {
    const alice = await account("types");
    const response = await upload(parley.url, alice.token, make(), "upload.txt");
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      type,
      url: `${parley.url}/media/${response.body.id}.${ext}`,
      meta,
      pleroma: { mime_type: mime },
    });
  });

  it("answers 200 on v2 too (the file is ready at once)", async () => {
    const alice = await account("v2");
    const response = await upload(parley.url, alice.token, png(), "a.png", {}, "v2");
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ type: "image", url: expect.stringMatching(/\/media\/[0-9a-z]{26}\.png$/) });
  });

  it("refuses an HTML file named .png, and anything else not an accepted type, with 422 unsupported_media_type", async () => {
    const alice = await account("html");
    for (const [data, name] of [
      [html(), "cat.png"],
      [Buffer.from("%PDF-1.4\n%âãÏÓ\n"), "doc.png"],
      [Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'), "x.svg"],
      [Buffer.alloc(0), "empty.png"],
    ] as const) {
      const response = await upload(parley.url, alice.token, data, name);
      expect(response).toMatchObject({ status: 422, body: { error: "unsupported_media_type" } });
    }
    expect((await readdir(mediaDir())).filter((name) => !/^[0-9a-z]{26}\.[a-z0-9]+$|^tmp$|^emoji$/.test(name))).toEqual([]);
    expect(await readdir(path.join(mediaDir(), "tmp"))).toEqual([]);
  });

  it("refuses a file over MEDIA_MAX_BYTES with 413 payload_too_large, announced or streamed, and keeps nothing", async () => {
    const alice = await account("big");
    const before = (await readdir(mediaDir())).length;
    // Just over the cap: multer stops writing at 2048 bytes.
    const over = Buffer.concat([png(), Buffer.alloc(2100 - png().length)]);
    expect(await upload(parley.url, alice.token, over, "big.png")).toMatchObject({ status: 413, body: { error: "payload_too_large" } });
    // Far over it: refused on its Content-Length before any parsing.
    const huge = Buffer.concat([png(), Buffer.alloc(1024 * 1024)]);
    expect(await upload(parley.url, alice.token, huge, "huge.png")).toMatchObject({ status: 413, body: { error: "payload_too_large" } });
    // Exactly at the cap is fine.
    const exact = Buffer.concat([png(), Buffer.alloc(2048 - png().length)]);
    expect((await upload(parley.url, alice.token, exact, "exact.png")).status).toBe(200);
    expect((await readdir(mediaDir())).length).toBe(before + 1);
    expect(await readdir(path.join(mediaDir(), "tmp"))).toEqual([]);
  });

  it("answers 401 without a token, and 400 without a file", async () => {
    expect(await upload(parley.url, undefined, png(), "a.png")).toMatchObject({ status: 401, body: { error: "missing_token" } });
    expect(await upload(parley.url, "nope", png(), "a.png")).toMatchObject({ status: 401, body: { error: "invalid_token" } });
    const alice = await account("nofile");
    const response = await as(alice).post("/api/v1/media", { description: "no file" });
    expect(response).toMatchObject({ status: 400, body: { error: "invalid_request", field: "file" } });
    const wrongField = new FormData();
    wrongField.set("image", new Blob([new Uint8Array(png())]), "a.png");
    expect((await as(alice).post("/api/v1/media", wrongField)).status).toBe(400);
  });

  it("shows and updates the description of one's own upload; another's is a 404", async () => {
    const [alice, bob] = [await account("owner"), await account("other")];
    const { body: uploaded } = await upload(parley.url, alice.token, png(), "a.png");
    expect((await as(alice).get(`/api/v1/media/${uploaded.id}`)).body).toMatchObject({ id: uploaded.id, description: null });
    const form = new FormData();
    form.set("description", "now described");
    const updated = await as(alice).put(`/api/v1/media/${uploaded.id}`, form);
    expect(updated).toMatchObject({ status: 200, body: { id: uploaded.id, description: "now described" } });
    expect((await as(alice).put(`/api/v1/media/${uploaded.id}`, { description: "by JSON" })).body.description).toBe("by JSON");
    expect((await as(bob).get(`/api/v1/media/${uploaded.id}`)).status).toBe(404);
    expect((await as(bob).put(`/api/v1/media/${uploaded.id}`, { description: "mine" })).status).toBe(404);
    expect((await as(alice).get("/api/v1/media/not-an-id")).status).toBe(404);
    expect((await as(alice).put(`/api/v1/media/${uploaded.id}`, { description: "x".repeat(1501) })).status).toBe(400);
  });
});

describe("GET /media/<file>", () => {
  it("serves an image with its checked type, nosniff, a sandboxing CSP, inline, cached for good", async () => {
    const alice = await account("serve");
    const file = png();
    const { body } = await upload(parley.url, alice.token, file, "a.html");
    const response = await fetch(body.url);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(file);
    expect(response.headers.get("content-type")).toBe("image/png");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("content-security-policy")).toMatch(/default-src 'none'.*sandbox/);
    expect(response.headers.get("content-disposition")).toBe("inline");
    expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("etag")).toBeTruthy();
  });

  it("serves video and audio as attachments (a download when opened directly)", async () => {
    const alice = await account("serve2");
    for (const [make, type] of [
      [mp4, "video/mp4"],
      [ogg, "audio/ogg"],
    ] as const) {
      const { body } = await upload(parley.url, alice.token, make(), "clip");
      const response = await fetch(body.url);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe(type);
      expect(response.headers.get("content-disposition")).toMatch(/^attachment; filename="[0-9a-z]{26}\.(mp4|ogg)"$/);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    }
  });

  it("answers 404 to unknown files and to anything that is not a name Parley gives", async () => {
    for (const suffix of [
      "01jzzzzzzzzzzzzzzzzzzzzzzz.png",
      "01jzzzzzzzzzzzzzzzzzzzzzzz.html",
      "tmp",
      "..%2F..%2F..%2Fetc%2Fpasswd",
      "%2e%2e/%2e%2e/etc/passwd",
      "emoji/..%2F..%2Fpackage.json",
      ".%2e/.%2e/package.json",
    ]) {
      const response = await fetch(`${parley.url}/media/${suffix}`);
      expect([suffix, response.status]).toEqual([suffix, 404]);
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    }
  });
});

describe("messages with media", () => {
  it("sends an attachment-only message: content null, attachment the MediaAttachment, on both sides", async () => {
    const [alice, bob] = [await account("sender"), await account("receiver")];
    const chatId = await chatWith(alice, bob);
    const { body: uploaded } = await upload(parley.url, alice.token, png(), "a.png", { description: "alt" });
    const sent = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, { media_id: uploaded.id });
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ content: null, attachment: uploaded });

    const bobChat = (await as(bob).get("/api/v1/pleroma/chats")).body[0];
    expect(bobChat.last_message).toMatchObject({ content: null, attachment: uploaded });
    const messages = (await as(bob).get(`/api/v1/pleroma/chats/${bobChat.id}/messages`)).body;
    expect(messages[0]).toMatchObject({ content: null, attachment: { id: uploaded.id, type: "image", description: "alt" } });

    // With text too, and as a multipart form.
    const form = new FormData();
    form.set("content", "look");
    form.set("media_id", uploaded.id);
    const both = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, form);
    expect(both.body).toMatchObject({ content: "look", attachment: { id: uploaded.id } });
  });

  it("refuses another account's media_id with 400 forbidden", async () => {
    const [alice, bob] = [await account("thief"), await account("victim")];
    const chatId = await chatWith(alice, bob);
    const { body: bobs } = await upload(parley.url, bob.token, png(), "b.png");
    const response = await as(alice).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: "look", media_id: bobs.id });
    expect(response).toMatchObject({ status: 400, body: { error: "forbidden" } });
  });

  it("takes one's own upload through the C2S outbox by its URL; anyone else's is unsupported_attachment", async () => {
    const [alice, bob] = [await account("c2s"), await account("c2sbob")];
    const { body: mine } = await upload(parley.url, alice.token, png(4, 4), "a.png", { description: "square" });
    const { body: theirs } = await upload(parley.url, bob.token, png(), "b.png");
    const post = (attachment: unknown, content = "") =>
      fetch(`${parley.url}/users/${alice.account.username}/outbox`, {
        method: "POST",
        headers: { "content-type": "application/activity+json", authorization: `Bearer ${alice.token}` },
        body: JSON.stringify({ type: "ChatMessage", to: [`${parley.url}/users/${bob.account.username}`], content, attachment }),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));

    const created = await post({ type: "Document", mediaType: "image/png", url: mine.url });
    expect(created.status).toBe(201);
    expect(created.body.object).not.toHaveProperty("content");
    expect(created.body.object.attachment).toEqual({
      type: "Document",
      mediaType: "image/png",
      name: "square",
      url: [{ type: "Link", mediaType: "image/png", href: mine.url, width: 4, height: 4 }],
    });
    const bobChat = (await as(bob).get("/api/v1/pleroma/chats")).body[0];
    expect(bobChat.last_message).toMatchObject({ content: null, attachment: { id: mine.id, url: mine.url } });

    // Pleroma's url list of Links, with text.
    expect((await post([{ type: "Document", url: [{ type: "Link", href: mine.url }] }], "with text")).status).toBe(201);
    for (const attachment of [
      { type: "Document", url: theirs.url },
      { type: "Document", url: "https://elsewhere.example/a.png" },
      { type: "Document", url: `${mine.url}?x=1` },
      [
        { type: "Document", url: mine.url },
        { type: "Document", url: mine.url },
      ],
      { type: "Document", url: "javascript:alert(1)" },
    ]) {
      expect(await post(attachment, "hi")).toMatchObject({
        status: 422,
        body: { error: "invalid_chat_message", reason: "unsupported_attachment" },
      });
    }
  });
});

describe("account deletion", () => {
  it("removes the deleted account's uploads from disk: they are no longer served", async () => {
    const leaving = await account("leaving");
    const { body } = await upload(parley.url, leaving.token, png(), "a.png");
    expect((await fetch(body.url)).status).toBe(200);
    expect((await api(parley.url, parley.adminToken).delete(`/api/v1/admin/accounts/${leaving.account.id}`)).status).toBe(200);
    expect((await fetch(body.url)).status).toBe(404);
    expect(await readdir(mediaDir())).not.toContain(`${body.id}.png`);
  });
});

describe("instance", () => {
  it("advertises the accepted types and MEDIA_MAX_BYTES", async () => {
    const v1 = await api(parley.url).get("/api/v1/instance");
    expect(v1.body.upload_limit).toBe(2048);
    expect(v1.body.configuration.media_attachments).toMatchObject({
      image_size_limit: 2048,
      supported_mime_types: expect.arrayContaining(["image/png", "video/mp4", "audio/ogg"]),
    });
    const v2 = await api(parley.url).get("/api/v2/instance");
    expect(v2.body.configuration.media_attachments.video_size_limit).toBe(2048);
  });
});
