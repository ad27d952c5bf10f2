import * as linkify from "linkifyjs";
import sanitizeHtml from "sanitize-html";
import { Parser } from "../shared/html-parser.js";

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);

/** A known account a `@name` or `@name@host` of a local text links to. */
export interface MentionTarget {
  id: string;
  username: string;
  /** Profile page, else actor id (Pleroma's `user.uri || user.ap_id`). */
  url: string;
}

export interface ComposeOptions {
  /** Base of hashtag links (`<publicUrl>/tag/<tag>`); without it `#tags` stay text. */
  publicUrl?: string;
  /** Known accounts by `mentionKey`; a mention of anyone else stays text. */
  mentions?: ReadonlyMap<string, MentionTarget>;
}

/**
 * Local compose, as Pleroma's CommonAPI does it: escape the plain text, turn http(s) URLs into
 * `rel="ugc"` links, `@name[@host]` of known accounts into h-card mentions and `#tags` into hashtag
 * links (Pleroma.Formatter's HTML), newlines into `<br/>`. `:shortcode:` text is kept as is (emoji
 * tags are separate).
 */
export function composeHtml(text: string, options: ComposeOptions = {}): string {
  let html = "";
  let cursor = 0;
  for (const link of urlsIn(text)) {
    html += linkWords(text.slice(cursor, link.start), options);
    html += `<a href="${escapeHtml(link.href)}" rel="ugc">${escapeHtml(link.value)}</a>`;
    cursor = link.end;
  }
  html += linkWords(text.slice(cursor), options);
  return html.replace(/\r?\n/g, "<br/>");
}

function urlsIn(text: string) {
  return linkify.find(text, "url").filter((link) => /^https?:\/\//i.test(link.href));
}

/** The lookup key of a mention: `name` (local) or `name@host`, lower case. */
export function mentionKey(username: string, host?: string): string {
  return (host ? `${username}@${host}` : username).toLowerCase();
}

/** The mentions of a text outside its URLs, as `mentionKey`s, once each: the accounts to look up. */
export function mentionKeysIn(text: string): string[] {
  const keys = new Set<string>();
  let cursor = 0;
  const scan = (segment: string) => {
    for (const token of tokensIn(segment)) if (token.kind === "mention") keys.add(mentionKey(token.username, token.host));
  };
  for (const link of urlsIn(text)) {
    scan(text.slice(cursor, link.start));
    cursor = link.end;
  }
  scan(text.slice(cursor));
  return [...keys];
}

type Token =
  | { kind: "mention"; start: number; end: number; username: string; host?: string }
  | { kind: "hashtag"; start: number; end: number; tag: string };

// Linkify's (the Elixir library behind Pleroma.Formatter) rules: a hashtag is a `#` word prefix
// with at least one letter; a mention is a whole word `@user` or `@user@host`.
const HASHTAG = /^#[\p{L}\p{N}\p{M}_]*[\p{L}\p{M}_·\u200c][\p{L}\p{N}\p{M}_·\u200c]*/u;
// A host may carry a port here (Pleroma's does not): only known accounts are linked anyway.
const MENTION = /^@([a-zA-Z0-9_-]+)(?:@([\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*(?::[0-9]{1,5})?))?$/u;
const APOSTROPHE_SUFFIXES = ["'", "'s", "'ll", "'d", "’", "’s", "’ll", "’d"];

/**
 * Mentions and hashtags of a plain-text segment (no URL in it). Words are split at spaces and line
 * breaks; what ends a word and is not part of a name — `'s`, `,;:>?!`, periods, parentheses — is
 * left out of it, as Linkify does.
 */
function tokensIn(segment: string): Token[] {
  const tokens: Token[] = [];
  for (const word of segment.matchAll(/[^ \r\n]+/g)) {
    let core = word[0].split("<")[0];
    for (const suffix of APOSTROPHE_SUFFIXES) if (core.endsWith(suffix)) core = core.slice(0, -suffix.length);
    core = core.replace(/[,;:>?!]*$/, "").replace(/\.+$/, "");
    let offset = word.index;
    if (core.startsWith("(")) {
      core = core.slice(1);
      offset += 1;
    }
    if (core.endsWith(")")) core = core.slice(0, -1);
    const hashtag = HASHTAG.exec(core);
    if (hashtag) {
      tokens.push({ kind: "hashtag", start: offset, end: offset + hashtag[0].length, tag: hashtag[0].slice(1) });
      continue;
    }
    const mention = MENTION.exec(core);
    if (mention) tokens.push({ kind: "mention", start: offset, end: offset + core.length, username: mention[1], host: mention[2] });
  }
  return tokens;
}

/** Escapes a plain-text segment, linking its known mentions and its hashtags as Pleroma.Formatter does. */
function linkWords(segment: string, options: ComposeOptions): string {
  let html = "";
  let cursor = 0;
  for (const token of tokensIn(segment)) {
    const link = token.kind === "mention" ? mentionHtml(token, options) : hashtagHtml(token, options);
    if (link === undefined) continue;
    html += escapeHtml(segment.slice(cursor, token.start)) + link;
    cursor = token.end;
  }
  return html + escapeHtml(segment.slice(cursor));
}

function mentionHtml(token: Extract<Token, { kind: "mention" }>, options: ComposeOptions): string | undefined {
  const target = options.mentions?.get(mentionKey(token.username, token.host));
  if (!target) return undefined;
  return (
    `<span class="h-card"><a class="u-url mention" data-user="${escapeHtml(target.id)}" href="${escapeHtml(target.url)}" rel="ugc">` +
    `@<span>${escapeHtml(target.username)}</span></a></span>`
  );
}

function hashtagHtml(token: Extract<Token, { kind: "hashtag" }>, options: ComposeOptions): string | undefined {
  if (!options.publicUrl) return undefined;
  const tag = token.tag.toLowerCase();
  // Without the formatter's rel="tag ugc": Pleroma's scrubber of a chat message's content (SafeText)
  // keeps only single rel values, so its ChatMessages carry none on hashtags.
  return `<a class="hashtag" data-tag="${escapeHtml(tag)}" href="${escapeHtml(`${options.publicUrl}/tag/${tag}`)}">#${escapeHtml(token.tag)}</a>`;
}

/** Longest link a message records for its preview card; a longer one gets none. */
const MAX_LINK_LENGTH = 2048;

/**
 * The link a message's preview card is for: the first http(s) `<a href>` of its HTML that is not a
 * mention, a hashtag or an attachment (Pleroma's `extract_first_external_url_from_object`), or null.
 */
export function firstLinkOf(html: string | null): string | null {
  if (!html || !/<a\s/i.test(html)) return null;
  let found: string | null = null;
  const parser = new Parser({
    onopentag(name, attribs) {
      if (found !== null || name !== "a") return;
      const classes = (attribs.class ?? "").split(/\s+/);
      if (classes.some((c) => c === "mention" || c === "hashtag" || c === "attachment")) return;
      if ((attribs.rel ?? "").split(/\s+/).includes("tag")) return;
      found = previewableUrl(attribs.href);
    },
  });
  parser.write(html);
  parser.end();
  return found;
}

/** An http(s) URL without credentials, normalised, within MAX_LINK_LENGTH; else null. */
export function previewableUrl(href: string | undefined): string | null {
  if (!href) return null;
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return null;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password) return null;
  return url.href.length <= MAX_LINK_LENGTH ? url.href : null;
}

/** `:shortcode:` names used in a text, once each, in order of appearance. */
export function shortcodesIn(text: string): string[] {
  return [...new Set([...text.matchAll(/:([a-zA-Z0-9_]{2,64}):/g)].map((m) => m[1]))];
}

/**
 * Mastodon's strict allow-list plus `span.h-card` (and the span and link classes Pleroma and
 * Mastodon write): what remote HTML may keep. No images at all: emoji travel as `Emoji` tags and
 * the content keeps their `:shortcode:` text, as Mastodon stores it; an `<img>` in a message would
 * have every client load a URL of the sender's choosing (a loopback one, say).
 */
const ALLOW_LIST: sanitizeHtml.IOptions = {
  allowedTags: ["p", "br", "span", "a", "del", "s", "pre", "blockquote", "code", "b", "strong", "u", "i", "em", "ul", "ol", "li"],
  allowedAttributes: {
    a: ["href", "rel", "class"],
    span: ["class"],
    ol: ["start", "reversed"],
    li: ["value"],
  },
  allowedClasses: {
    a: ["mention", "hashtag", "u-url", /^(h|p|u|dt|e)-/],
    span: ["h-card", "invisible", "ellipsis", "quote-inline", "recipients-inline"],
  },
  allowedSchemes: ["http", "https"],
  allowProtocolRelative: false,
  transformTags: {
    h1: "strong",
    h2: "strong",
    h3: "strong",
    h4: "strong",
    h5: "strong",
    h6: "strong",
  },
  // Text is escaped as local messages are (composeHtml): quotes too, so that no quote of a remote
  // text lands inside an attribute a client builds around it.
  textFilter: (text) => text.replace(/"/g, "&quot;").replace(/'/g, "&#39;"),
  nonTextTags: ["script", "style", "textarea", "option", "noscript", "title"],
};

/** Sanitizes HTML from another server before it is stored. */
export function sanitizeRemoteHtml(html: string): string {
  return sanitizeHtml(html, ALLOW_LIST);
}
