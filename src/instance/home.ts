import { createHash } from "node:crypto";
import type { RequestHandler } from "express";
import { PARLEY_VERSION } from "./version.js";

/**
 * `GET /`: what a person who opens the instance in a browser needs to find their way (the API
 * docs, the queue dashboard, health and metrics). A JSON client that asks for JSON gets the same
 * facts as JSON rather than a page it cannot use.
 */

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

const STYLE =
  "body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}" +
  "h1{font-size:1.6rem;margin-bottom:0}p.sub{margin-top:.2rem;color:#666}dt{font-weight:600;margin-top:.6rem}" +
  "code{background:#f3f3f3;padding:0 .2rem}";

/** Only this page's own inline style may apply: no script, no outside request, no framing. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${createHash("sha256").update(STYLE).digest("base64")}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

interface Link {
  path: string;
  title: string;
  note: string;
}

/** Where the parts mounted by the composition root (src/app.ts) are. */
export interface HomePageMounts {
  queueBoardPath: string;
  withMetrics: boolean;
}

function linksOf({ queueBoardPath, withMetrics }: HomePageMounts): Link[] {
  return [
    { path: "/api/docs", title: "API documentation", note: "Swagger UI of the chat and admin API" },
    { path: "/api/openapi", title: "OpenAPI document", note: "the same API as OpenAPI 3.1 JSON" },
    { path: queueBoardPath, title: "Queue dashboard", note: "asks for ADMIN_TOKEN as the password (any user name)" },
    { path: "/healthz", title: "Health", note: "the process answers" },
    { path: "/readyz", title: "Readiness", note: "PostgreSQL and the queues answer" },
    ...(withMetrics ? [{ path: "/metrics", title: "Metrics", note: "Prometheus text format" }] : []),
    { path: "/.well-known/nodeinfo", title: "NodeInfo", note: "what other servers read about this one" },
  ];
}

export function renderHomePage(host: string, links: Link[]): string {
  const items = links
    .map(
      (l) =>
        `<dt><a href="${escapeHtml(l.path)}">${escapeHtml(l.title)}</a></dt><dd><code>${escapeHtml(l.path)}</code> — ${escapeHtml(l.note)}</dd>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(host)} · Parley</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(host)}</h1>
<p class="sub">Parley ${escapeHtml(PARLEY_VERSION)}: one-to-one chats over ActivityPub, with Pleroma's chat API</p>
<p>This server has no web client of its own: sign in with a Pleroma-compatible client (Pleroma-FE, Soapbox…).</p>
<dl>
${items}
</dl>
</body>
</html>
`;
}

export function homePage(publicUrl: string, mounts: HomePageMounts): RequestHandler {
  const host = new URL(publicUrl).host;
  const links = linksOf(mounts);
  const html = renderHomePage(host, links);
  const json = {
    host,
    software: { name: "parley", version: PARLEY_VERSION },
    links: Object.fromEntries(links.map((l) => [l.title, l.path])),
  };
  return (req, res) => {
    res.set("Vary", "Accept");
    // A browser's Accept names text/html; a client with no Accept header (or */*) gets the page too.
    if (req.accepts(["html", "json"]) === "json") {
      res.json(json);
      return;
    }
    res
      .set({ "Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer" })
      .type("html")
      .send(html);
  };
}
