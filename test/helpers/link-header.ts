/**
 * The one reader of the `Link` header of paged API answers in the tests (Mastodon's
 * `<url>; rel="next", <url>; rel="prev"`, as src/http/pagination.ts writes it).
 */

/** The URL of each `rel` of a Link header; {} when there is no header. */
export function linksOf(header: string | null | undefined): Record<string, string> {
  const links: Record<string, string> = {};
  for (const match of (header ?? "").matchAll(/<([^>]+)>\s*;\s*rel="?([\w-]+)"?/g)) links[match[2]] = match[1];
  return links;
}

/** The same links as paths with their query, for helpers that prefix the instance's URL. */
export function linkPathsOf(header: string | null | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(linksOf(header)).map(([rel, href]) => {
      const url = new URL(href);
      return [rel, url.pathname + url.search];
    }),
  );
}
