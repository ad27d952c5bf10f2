import { crc32, deflateSync } from "node:zlib";
import { api } from "./parley.js";

/** Small files of each kind, made here byte by byte (no fixtures). */

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A real PNG of `width` × `height` RGB pixels (a gradient), valid to any decoder. */
export function png(width = 3, height = 2): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit, truecolour, deflate, no filter, no interlace
  const rows: number[] = [];
  for (let y = 0; y < height; y++) {
    rows.push(0); // filter: none
    for (let x = 0; x < width; x++) rows.push((x * 80) % 256, (y * 120) % 256, 200);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.from(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part, "latin1") : Buffer.from(part))));

/** JPEG magic, a JFIF segment and a baseline frame header saying 4 × 3. */
export const jpeg = () =>
  bytes(
    [0xff, 0xd8, 0xff, 0xe0, 0, 16],
    "JFIF\0",
    [1, 1, 0, 0, 1, 0, 1, 0, 0],
    [0xff, 0xc0, 0, 17, 8, 0, 3, 0, 4, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1],
    [0xff, 0xd9],
  );

/** A GIF header saying 5 × 7. */
export const gif = () => bytes("GIF89a", [5, 0, 7, 0, 0, 0, 0], ";");

/** An MP4 `ftyp` box (isom). */
export const mp4 = () => bytes([0, 0, 0, 0x18], "ftypisom", [0, 0, 2, 0], "isomiso2", new Array(64).fill(0));

/** An Ogg page whose first packet is a Vorbis identification header. */
export const ogg = () => bytes("OggS", [0, 2], new Array(20).fill(0), [1, 30], [1], "vorbis", new Array(64).fill(0));

/** HTML with a script: what must never be served as an image. */
export const html = () => bytes("<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>");

/** `POST /api/v1/media` (or v2) of `data` as `name`. */
export async function upload(
  base: string,
  token: string | undefined,
  data: Buffer,
  name: string,
  extra: Record<string, string> = {},
  version = "v1",
) {
  const form = new FormData();
  form.set("file", new Blob([new Uint8Array(data)], { type: "image/png" }), name);
  for (const [key, value] of Object.entries(extra)) form.set(key, value);
  return api(base, token).post(`/api/${version}/media`, form);
}

/** `POST /api/v1/admin/custom_emojis`. */
export async function uploadEmoji(
  base: string,
  token: string | undefined,
  shortcode: string | undefined,
  data: Buffer,
  name = "emoji.png",
) {
  const form = new FormData();
  if (shortcode !== undefined) form.set("shortcode", shortcode);
  form.set("file", new Blob([new Uint8Array(data)]), name);
  return api(base, token).post("/api/v1/admin/custom_emojis", form);
}
