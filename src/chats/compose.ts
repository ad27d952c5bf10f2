import * as linkify from "linkifyjs";
import sanitizeHtml from "sanitize-html";

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);

/**
 * Local compose, as Pleroma's CommonAPI does it: escape the plain text, turn http(s) URLs into
 * `rel="ugc"` links, newlines into `<br/>`. `:shortcode:` text is kept as is (emoji tags are separate).
 */
export function composeHtml(text: string): string {
  const links = linkify.find(text, "url").filter((link) => /^https?:\/\//i.test(link.href));
  let html = "";
  let cursor = 0;
  for (const link of links) {
    html += escapeHtml(text.slice(cursor, link.start));
    html += `<a href="${escapeHtml(link.href)}" rel="ugc">${escapeHtml(link.value)}</a>`;
    cursor = link.end;
  }
  html += escapeHtml(text.slice(cursor));
  return html.replace(/\r?\n/g, "<br/>");
}

/** `:shortcode:` names used in a text, once each, in order of appearance. */
export function shortcodesIn(text: string): string[] {
  return [...new Set([...text.matchAll(/:([a-zA-Z0-9_]{2,64}):/g)].map((m) => m[1]))];
}

/** Mastodon's strict allow-list plus `span.h-card` and `img.emoji`: what remote HTML may keep. */
const ALLOW_LIST: sanitizeHtml.IOptions = {
  allowedTags: ["p", "br", "span", "a", "del", "s", "pre", "blockquote", "code", "b", "strong", "u", "i", "em", "ul", "ol", "li", "img"],
  allowedAttributes: {
    a: ["href", "rel", "class"],
    span: ["class"],
    img: ["src", "alt", "title", "class", "width", "height"],
    ol: ["start", "reversed"],
    li: ["value"],
  },
  allowedClasses: {
    a: ["mention", "hashtag", "u-url", /^(h|p|u|dt|e)-/],
    span: ["h-card", "invisible", "ellipsis", "quote-inline", "recipients-inline"],
    img: ["emoji"],
  },
  allowedSchemes: ["http", "https"],
  allowedSchemesByTag: { img: ["https", "http"] },
  allowProtocolRelative: false,
  exclusiveFilter: (frame) => frame.tag === "img" && !(frame.attribs.class ?? "").split(/\s+/).includes("emoji"),
  transformTags: {
    h1: "strong", h2: "strong", h3: "strong", h4: "strong", h5: "strong", h6: "strong",
  },
  nonTextTags: ["script", "style", "textarea", "option", "noscript", "title"],
};

/** Sanitizes HTML from another server before it is stored. */
export function sanitizeRemoteHtml(html: string): string {
  return sanitizeHtml(html, ALLOW_LIST);
}
