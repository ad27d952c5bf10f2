import { sanitizeRemoteHtml } from "../../chats/compose.js";
import { contentOf, hrefOf, httpUrl, idOf, isJsonObject, type Json, parsePublished, recipientsOf, sameUri, typesOf } from "../as-json.js";
import { boundedDescription, boundedDimension, isRemoteShortcode, namesPrivateAddress, validBlurhash } from "./remote-content-bounds.js";

/**
 * The ChatMessage rules (docs/federation.md lists them with their reason codes), on the raw JSON the remote server sent (Fedify's parse loses
 * the shapes the rules are about: a `type` array, a string `to`, an AS-only context; ../as-json.ts
 * reads it). Pure functions: the inbox answers 422 with the reason code; the inbound worker reuses
 * the content readers (sanitizedContent, firstAttachment, emojisOf) to store what was checked.
 */

export const CHAT_MESSAGE_REASONS = [
  "wrong_type",
  "foreign_object_id",
  "actor_mismatch",
  "recipient_count",
  "to_mismatch",
  "unknown_recipient",
  "recipient_does_not_accept_chats",
  "missing_published",
  "no_content",
  "content_too_long",
  "bad_emoji",
  "bad_attachment",
] as const;

export type ChatMessageReason = (typeof CHAT_MESSAGE_REASONS)[number];

/** Whether an object means to be a ChatMessage, in any spelling; only then do the rules apply. */
export function looksLikeChatMessage(object: unknown): object is Json {
  return isJsonObject(object) && typesOf(object).some((t) => /(^|[#:/])ChatMessage$/.test(t));
}

/** Sanitized HTML, or null when nothing visible is left (`""`, whitespace, empty paragraphs). */
export function sanitizedContent(object: Json): string | null {
  const raw = contentOf(object);
  if (raw.trim() === "") return null;
  const html = sanitizeRemoteHtml(raw).trim();
  const visible = html
    .replace(/<[^>]*>/g, "")
    .replace(/&nbsp;|&#160;/g, " ")
    .trim();
  return visible === "" ? null : html;
}

export interface RemoteAttachment {
  url: string;
  mediaType: string;
  kind: "image" | "video" | "audio" | "unknown";
  description: string | null;
  blurhash: string | null;
  width?: number;
  height?: number;
}

/**
 * The first attachment (a single object or a list; an empty list is none), when it has an http(s)
 * URL: Pleroma's `url` list of Links, honk's plain string, or a bare `href`. Within the bounds of
 * remote-content-bounds: the description cut, a malformed blurhash null, outsized dimensions dropped.
 */
export function firstAttachment(object: Json): RemoteAttachment | undefined {
  const first = [object.attachment].flat()[0];
  if (!isJsonObject(first)) return undefined;
  const found = hrefOf(first.url) ?? hrefOf(first.href);
  if (!found) return undefined;
  const mediaType =
    [found.link?.mediaType, first.mediaType, first.mimeType].find((t): t is string => typeof t === "string" && t.includes("/")) ??
    "application/octet-stream";
  const types = typesOf(first);
  const major = mediaType.split("/")[0];
  const kind: RemoteAttachment["kind"] =
    types.includes("Image") || major === "image"
      ? "image"
      : types.includes("Video") || major === "video"
        ? "video"
        : types.includes("Audio") || major === "audio"
          ? "audio"
          : "unknown";
  const width = boundedDimension(found.link?.width) ?? boundedDimension(first.width);
  const height = boundedDimension(found.link?.height) ?? boundedDimension(first.height);
  const text = [first.name, first.summary].find((v): v is string => typeof v === "string" && v.trim() !== "");
  return {
    url: found.href,
    mediaType,
    kind,
    description: boundedDescription(text),
    blurhash: validBlurhash(first.blurhash),
    ...(width && height ? { width, height } : {}),
  };
}

export interface RemoteEmoji {
  shortcode: string;
  url: string;
  static_url: string;
  visible_in_picker: boolean;
}

/**
 * Emoji of `tag` (a single object or a list). An Emoji whose icon is not http(s) makes the message
 * invalid (`undefined`), as Pleroma's emoji cast does; one without icon, or whose name (colons
 * trimmed) is not `[A-Za-z0-9_]+`, is skipped: Mastodon's rule, a quote or `<` in a name would
 * turn into markup where a client swaps `:name:` for an image.
 */
export function emojisOf(object: Json): RemoteEmoji[] | undefined {
  const emojis: RemoteEmoji[] = [];
  const seen = new Set<string>();
  for (const tag of [object.tag].flat()) {
    if (!isJsonObject(tag) || !typesOf(tag).includes("Emoji")) continue;
    const icon = [tag.icon].flat()[0];
    const url = typeof icon === "string" ? icon : isJsonObject(icon) ? (hrefOf(icon.url)?.href ?? icon.url) : undefined;
    if (url === undefined || url === null) continue;
    if (!httpUrl(url)) return undefined;
    const shortcode = typeof tag.name === "string" ? tag.name.trim().replace(/^:+|:+$/g, "") : "";
    if (!isRemoteShortcode(shortcode) || seen.has(shortcode)) continue;
    seen.add(shortcode);
    emojis.push({ shortcode, url: url as string, static_url: url as string, visible_in_picker: false });
  }
  return emojis;
}

export type RuleResult<R> = { ok: true; recipient: R; published: Date } | { ok: false; reason: ChatMessageReason };

/**
 * What the content rules depend on (Config's fields). ALLOW_PRIVATE_ADDRESS (development) lets a
 * peer on a private address send URLs of its own origin, never of another private place.
 */
export interface ContentPolicy {
  remoteMessageLimit: number;
  allowPrivateAddress: boolean;
}

export interface CreateRuleInput<R> extends ContentPolicy {
  /** The Create activity as received. */
  activity: Json;
  /** Its `object`. */
  object: Json;
  /** The verified actor of the activity. */
  actorUri: string;
  /** The local account an actor URI names, if any. */
  findLocalRecipient(uri: string): Promise<R | undefined>;
}

/**
 * Object rules shared by Create and Update, in the order of docs/federation.md: type, id on the actor's
 * origin, author. Returns the first broken rule.
 */
function identityRules(object: Json, actorUri: string): ChatMessageReason | undefined {
  if (object.type !== "ChatMessage") return "wrong_type";
  const id = httpUrl(object.id);
  const actor = httpUrl(actorUri);
  if (!id || !actor || id.origin !== actor.origin) return "foreign_object_id";
  // Pleroma fills `actor` from `attributedTo`: at least one names the author, and none another.
  const authors = [object.attributedTo, object.actor].filter((v) => v !== undefined && v !== null).flatMap((v) => [v].flat());
  if (authors.length === 0 || !authors.every((a) => sameUri(idOf(a), actorUri))) return "actor_mismatch";
  return undefined;
}

/**
 * Content, length and URL rules. The limit holds for the content as received (checked first: it
 * bounds the sanitizer's work) and as sanitized (what is stored and shown: escaping can make it
 * longer), in characters. URLs a client loads by itself (emoji images, the attachment) may not
 * name a private address.
 */
function contentRules(object: Json, policy: ContentPolicy, actorUri: string): ChatMessageReason | undefined {
  const tooLong = (text: string) => text.length > policy.remoteMessageLimit && [...text].length > policy.remoteMessageLimit;
  if (tooLong(contentOf(object))) return "content_too_long";
  const content = sanitizedContent(object);
  const attachment = firstAttachment(object);
  if (content === null && !attachment) return "no_content";
  if (content !== null && tooLong(content)) return "content_too_long";
  const emojis = emojisOf(object);
  if (!emojis) return "bad_emoji";
  const actorHost = httpUrl(actorUri)?.host;
  const refused = (href: string) => namesPrivateAddress(href) && !(policy.allowPrivateAddress && httpUrl(href)?.host === actorHost);
  if (emojis.some((e) => refused(e.url))) return "bad_emoji";
  if (attachment && refused(attachment.url)) return "bad_attachment";
  return undefined;
}

/** Every rule of a `Create{ChatMessage}`; on success, the local recipient and the publication date. */
export async function checkCreateChatMessage<R extends { acceptsChatMessages: boolean | null }>(
  input: CreateRuleInput<R>,
): Promise<RuleResult<R>> {
  const { activity, object, actorUri } = input;
  const fail = (reason: ChatMessageReason): RuleResult<R> => ({ ok: false, reason });
  const identity = identityRules(object, actorUri);
  if (identity) return fail(identity);
  // One actor, the verified one: Fedify checks the key against the first of a list only.
  const actors = [activity.actor].flat();
  if (actors.length !== 1 || !sameUri(idOf(actors[0]), actorUri)) return fail("actor_mismatch");
  const to = recipientsOf(object.to);
  if (to.length !== 1) return fail("recipient_count");
  const activityTo = recipientsOf(activity.to);
  if (activityTo.length !== to.length || activityTo.some((uri, i) => uri !== to[i])) return fail("to_mismatch");
  const recipient = await input.findLocalRecipient(to[0]);
  if (!recipient) return fail("unknown_recipient");
  if (recipient.acceptsChatMessages === false) return fail("recipient_does_not_accept_chats");
  const published = parsePublished(object.published);
  if (!published) return fail("missing_published");
  const content = contentRules(object, input, actorUri);
  if (content) return fail(content);
  return { ok: true, recipient, published };
}

/**
 * The rules an edit (`Update{ChatMessage}`, Lemmy) must keep: the same identity rules and content
 * rules; the addressing of the original message stands.
 */
export function checkUpdatedChatMessage(object: Json, actorUri: string, policy: ContentPolicy): ChatMessageReason | undefined {
  return identityRules(object, actorUri) ?? contentRules(object, policy, actorUri);
}
