import { isIP } from "node:net";
import { isLocalName, isPublicAddress } from "../http-client.js";

/**
 * Bounds on what another server's ChatMessage may hand to our clients: emoji names, attachment
 * descriptions, blurhashes, dimensions and URLs. Pure; the inbox rules and the inbound worker read
 * objects through them, and the chat view applies the same bounds to rows stored before them.
 */

/** Mastodon's shortcode alphabet: a name with a quote or `<` would become markup in a client's emojify. */
export const REMOTE_SHORTCODE = /^[A-Za-z0-9_]+$/;

/** Mastodon's MAX_DESCRIPTION_LENGTH, in characters (code points). */
export const MAX_DESCRIPTION_CHARS = 1_500;

/** Largest width or height passed on: a 16384² image is already 268 megapixels. */
export const MAX_DIMENSION = 16_384;

export function isRemoteShortcode(value: unknown): value is string {
  return typeof value === "string" && REMOTE_SHORTCODE.test(value);
}

/** The description cut to MAX_DESCRIPTION_CHARS, whole code points; null when there is none. */
export function boundedDescription(value: unknown): string | null {
  if (typeof value !== "string" || value.trim() === "") return null;
  if (value.length <= MAX_DESCRIPTION_CHARS) return value;
  return [...value].slice(0, MAX_DESCRIPTION_CHARS).join("");
}

const BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

/**
 * A well-formed blurhash, else null: base83 characters only, and exactly as long as its first
 * character (the component counts, 1–9 each way) says: 4 + 2 × x × y.
 */
export function validBlurhash(value: unknown): string | null {
  if (typeof value !== "string" || value.length < 6 || value.length > 4 + 2 * 81) return null;
  for (const c of value) if (!BASE83.includes(c)) return null;
  const size = BASE83.indexOf(value[0]);
  const x = (size % 9) + 1;
  const y = Math.floor(size / 9) + 1;
  return size < 81 && value.length === 4 + 2 * x * y ? value : null;
}

/** One side in pixels: a positive number, rounded, at most MAX_DIMENSION; else undefined. */
export function boundedDimension(value: unknown): number | undefined {
  if (typeof value !== "number" || !Number.isFinite(value)) return undefined;
  const rounded = Math.round(value);
  return rounded >= 1 && rounded <= MAX_DIMENSION ? rounded : undefined;
}

/**
 * Whether a URL names a private place by its text alone: a literal loopback, private, link-local
 * or special-use address (IPv4-mapped ones included), or a local name. Other host names cannot be
 * resolved at the door (a DNS answer may change before any client loads the URL); clients fetch
 * them from their own network, as they would any link.
 */
export function namesPrivateAddress(href: string): boolean {
  let host: string;
  try {
    host = new URL(href).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return true;
  }
  if (isIP(host)) return !isPublicAddress(host);
  return isLocalName(host);
}

/** An http(s) URL string, else undefined. */
function httpHref(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? value : undefined;
  } catch {
    return undefined;
  }
}

type StoredEmoji = { shortcode?: unknown; url?: unknown; static_url?: unknown };

/** Stored emoji a client may see: names in REMOTE_SHORTCODE, http(s) images (rows from before these bounds). */
export function renderableEmojis<T>(emojis: T[]): T[] {
  return emojis.filter((emoji) => {
    const e = emoji as StoredEmoji;
    return isRemoteShortcode(e.shortcode) && httpHref(e.url) !== undefined && httpHref(e.static_url ?? e.url) !== undefined;
  });
}

type StoredAttachment = {
  description?: unknown;
  blurhash?: unknown;
  meta?: { original?: { width?: unknown; height?: unknown } } & Record<string, unknown>;
} & Record<string, unknown>;

/** A stored remote attachment within the bounds (rows from before them): description, blurhash, size. */
export function boundedStoredAttachment<T>(attachment: T): T {
  if (typeof attachment !== "object" || attachment === null) return attachment;
  const a = attachment as StoredAttachment;
  const original = a.meta?.original;
  const sized =
    original === undefined || (boundedDimension(original.width) !== undefined && boundedDimension(original.height) !== undefined);
  const description = a.description === null || a.description === undefined ? null : boundedDescription(a.description);
  const blurhash = a.blurhash === null || a.blurhash === undefined ? null : validBlurhash(a.blurhash);
  if (sized && description === (a.description ?? null) && blurhash === (a.blurhash ?? null)) return attachment;
  return { ...a, description, blurhash, ...(sized ? {} : { meta: {} }) } as T;
}
