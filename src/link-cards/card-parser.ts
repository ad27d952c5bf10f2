import { Parser } from "../shared/html-parser.js";

/**
 * A page's preview card: Mastodon's PreviewCard entity with Pleroma's additions
 * (`image_description`, `pleroma.opengraph`: the page's `og:`/`twitter:` tags without prefix).
 * Stored as is in `link_cards.card` and rendered unchanged.
 */
export interface PreviewCard {
  url: string;
  title: string;
  description: string;
  type: "link";
  author_name: string;
  author_url: string;
  provider_name: string;
  provider_url: string;
  html: string;
  width: number;
  height: number;
  image: string | null;
  image_description: string;
  embed_url: string;
  blurhash: null;
  pleroma: { opengraph: Record<string, string> };
}

const TITLE_MAX = 300;
const DESCRIPTION_MAX = 1_000;
const OPENGRAPH_VALUE_MAX = 1_000;
const OPENGRAPH_KEYS_MAX = 30;
/** Tags whose value is a URL: kept only when http(s). */
const URL_TAG = /^(url|image|video|audio)(:(url|secure_url|src))?$/;

/**
 * The card of an HTML page, or null when it has no title (Pleroma keeps no card then either).
 * Title from `og:title`, `twitter:title`, then `<title>`; description from `og:description`,
 * `twitter:description`, then `<meta name="description">`; image (resolved against the page) only
 * when http(s). The first of repeated tags counts. `url` is the link the card is for.
 */
export function parseCard(html: string, url: string, pageUrl: string = url): PreviewCard | null {
  const meta = new Map<string, string>();
  let title = "";
  let inTitle = false;
  let titleSeen = false;
  const parser = new Parser({
    onopentag(name, attribs) {
      if (name === "title" && !titleSeen) inTitle = true;
      if (name !== "meta" || attribs.content === undefined) return;
      // `property` (OpenGraph) and `name` (Twitter, description) are both seen with either prefix.
      for (const key of [attribs.property, attribs.name]) {
        const normalised = key?.trim().toLowerCase();
        if (normalised && !meta.has(normalised) && meta.size < 200) meta.set(normalised, attribs.content);
      }
    },
    ontext(text) {
      if (inTitle) title += text;
    },
    onclosetag(name) {
      if (name === "title" && inTitle) {
        inTitle = false;
        titleSeen = true;
      }
    },
  });
  parser.write(html);
  parser.end();

  const first = (...keys: string[]) => keys.map((key) => cleanText(meta.get(key) ?? "", OPENGRAPH_VALUE_MAX)).find((v) => v !== "") ?? "";
  const cardTitle = cleanText(first("og:title", "twitter:title") || title, TITLE_MAX);
  if (cardTitle === "") return null;
  const image = httpUrl(first("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"), pageUrl);
  const page = new URL(url);
  const opengraph: Record<string, string> = {};
  for (const prefix of ["og:", "twitter:"]) {
    for (const [key, raw] of meta) {
      if (!key.startsWith(prefix) || Object.keys(opengraph).length >= OPENGRAPH_KEYS_MAX) continue;
      const name = key.slice(prefix.length);
      if (name === "" || name.length > 64 || name in opengraph) continue;
      const value = URL_TAG.test(name) ? httpUrl(raw.trim(), pageUrl) : cleanText(raw, OPENGRAPH_VALUE_MAX);
      if (value) opengraph[name] = value;
    }
  }
  Object.assign(opengraph, { title: cardTitle, url }, image ? { image } : {});
  if (!image) delete opengraph.image;
  return {
    url,
    title: cardTitle,
    description: cleanText(first("og:description", "twitter:description", "description"), DESCRIPTION_MAX),
    type: "link",
    author_name: "",
    author_url: "",
    provider_name: page.host,
    provider_url: page.origin,
    html: "",
    width: image ? dimension(first("og:image:width")) : 0,
    height: image ? dimension(first("og:image:height")) : 0,
    image,
    image_description: image ? cleanText(first("og:image:alt", "twitter:image:alt"), DESCRIPTION_MAX) : "",
    embed_url: "",
    blurhash: null,
    pleroma: { opengraph },
  };
}

/**
 * Plain text for clients that show it as text or as HTML alike: markup and control characters
 * removed, whitespace collapsed, cut at `max` characters.
 */
function cleanText(value: string, max: number): string {
  const text = value
    .replace(/<[^>]*>?/g, " ")
    .replace(/[<>]/g, "")
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return [...text].length > max ? `${[...text].slice(0, max - 1).join("")}…` : text;
}

function httpUrl(value: string, base: string): string | null {
  if (!value) return null;
  try {
    const url = new URL(value, base);
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password) return null;
    return url.href.length <= 2048 ? url.href : null;
  } catch {
    return null;
  }
}

function dimension(value: string): number {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n > 0 && n <= 100_000 ? n : 0;
}
