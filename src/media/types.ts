import { fileTypeFromFile } from "file-type";
import { imageSizeFromFile } from "image-size/fromFile";

/**
 * The file types Parley stores, found by CONTENT (magic bytes, `file-type`), never by the name or
 * the Content-Type the client claims. Each type has one extension, and each extension one type:
 * a stored file's name says how it is served.
 */

export type MediaKind = "image" | "video" | "audio";

export interface MediaType {
  /** The extension of the stored file. */
  ext: string;
  /** The Content-Type it is recorded and served with. */
  mime: string;
  kind: MediaKind;
}

const TYPES: MediaType[] = [
  { ext: "jpg", mime: "image/jpeg", kind: "image" },
  { ext: "png", mime: "image/png", kind: "image" },
  { ext: "gif", mime: "image/gif", kind: "image" },
  { ext: "webp", mime: "image/webp", kind: "image" },
  { ext: "avif", mime: "image/avif", kind: "image" },
  { ext: "mp4", mime: "video/mp4", kind: "video" },
  { ext: "webm", mime: "video/webm", kind: "video" },
  { ext: "mov", mime: "video/quicktime", kind: "video" },
  { ext: "mp3", mime: "audio/mpeg", kind: "audio" },
  { ext: "ogg", mime: "audio/ogg", kind: "audio" },
  { ext: "opus", mime: "audio/ogg", kind: "audio" },
  { ext: "wav", mime: "audio/wav", kind: "audio" },
  { ext: "flac", mime: "audio/flac", kind: "audio" },
  { ext: "m4a", mime: "audio/mp4", kind: "audio" },
  { ext: "aac", mime: "audio/aac", kind: "audio" },
];

const BY_EXT = new Map(TYPES.map((type) => [type.ext, type]));

/** What `file-type` reports (its `ext`) → the type we store. Anything else is refused. */
const DETECTED: Record<string, string> = {
  jpg: "jpg",
  png: "png",
  apng: "png", // an animated PNG is a PNG to every browser
  gif: "gif",
  webp: "webp",
  avif: "avif",
  mp4: "mp4",
  m4v: "mp4",
  webm: "webm",
  mov: "mov",
  mp3: "mp3",
  ogg: "ogg",
  oga: "ogg", // FLAC in an Ogg container
  opus: "opus",
  wav: "wav",
  flac: "flac",
  m4a: "m4a",
  aac: "aac",
};

/** Mastodon's limit on a description (alt text). */
export const DESCRIPTION_LIMIT = 1500;

/** Every type accepted (Mastodon's `configuration.media_attachments.supported_mime_types`). */
export const SUPPORTED_MIME_TYPES = [...new Set(TYPES.map((type) => type.mime))];

/** The type of a stored file, by the extension we gave it. */
export function typeOfExtension(ext: string): MediaType | undefined {
  return BY_EXT.get(ext.toLowerCase());
}

/** The Mastodon attachment type of a Content-Type. */
export function kindOf(contentType: string): MediaKind | "unknown" {
  const major = contentType.split("/")[0];
  return major === "image" || major === "video" || major === "audio" ? major : "unknown";
}

/** The type of a file on disk, by its content; undefined when it is not one we accept. */
export async function detectMediaType(filePath: string): Promise<MediaType | undefined> {
  const found = await fileTypeFromFile(filePath);
  const ext = found && DETECTED[found.ext];
  return ext ? BY_EXT.get(ext) : undefined;
}

/** Width and height of an image from its header, when it can be read. */
export async function imageDimensions(filePath: string): Promise<{ width: number; height: number } | undefined> {
  try {
    const size = await imageSizeFromFile(filePath);
    // EXIF orientations 5–8 turn the picture a quarter: what is shown is height × width.
    const turned = size.orientation !== undefined && size.orientation >= 5;
    const [width, height] = turned ? [size.height, size.width] : [size.width, size.height];
    return width > 0 && height > 0 ? { width, height } : undefined;
  } catch {
    return undefined;
  }
}
