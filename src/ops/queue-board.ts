import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import type * as bullmq from "bullmq";
import type { Request, RequestHandler, Response, Router } from "express";
import { tokensEqual } from "../accounts/tokens.js";

export const QUEUE_BOARD_PATH = "/admin/queues";

type Credentials = { scheme: "bearer" | "basic"; token: string };

/** The token of `Authorization: Bearer <token>`, or the password of Basic (any user name). */
function credentialsOf(req: Request): Credentials | undefined {
  const [scheme = "", value = ""] = (req.headers.authorization ?? "").trim().split(/\s+/, 2);
  if (/^bearer$/i.test(scheme)) return { scheme: "bearer", token: value };
  if (!/^basic$/i.test(scheme)) return undefined;
  const decoded = Buffer.from(value, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon >= 0 ? { scheme: "basic", token: decoded.slice(colon + 1) } : undefined;
}

const isJson = (req: Request) => /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(req.headers["content-type"] ?? "");

/** The request's `Origin` as an origin (`null` and unparsable values are not one). */
function originOf(req: Request): string | undefined {
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  try {
    return new URL(origin).origin;
  } catch {
    return "null";
  }
}

/** Our origin as the browser sees it: PUBLIC_URL's, or the request's own host (as the proxy passed it on). */
function isOwnOrigin(origin: string, req: Request, publicOrigin: string): boolean {
  if (origin === publicOrigin) return true;
  try {
    return origin === new URL(`${req.protocol}://${req.get("host") ?? ""}`).origin;
  } catch {
    return false;
  }
}

const refuse = (res: Response, reason: string, message: string) => res.status(403).json({ error: "forbidden", reason, message });

/**
 * ADMIN_TOKEN on the whole mount path, and no write from another site.
 *
 * Reads (GET, HEAD): `Authorization: Bearer <token>`, or Basic auth with any user name and the
 * token as password (what a browser asks for after the challenge); else 401 with a Basic
 * challenge, so a browser shows its login dialog.
 *
 * Writes (any other method; the board's retry, clean, pause… are PUT/POST/PATCH/DELETE): the
 * token as above, and proof that the request does not come from another site's page, which the
 * admin's browser would send with its remembered Basic credentials:
 *  - a foreign `Origin` (or `null`) is refused whatever else the request carries;
 *  - Basic credentials, which the browser replays by itself, need `Origin` equal to ours: the
 *    board's own XHRs carry it (browsers send Origin on every non-GET request, same-origin
 *    included), a form or `text/plain` POST from another page carries that page's;
 *  - Bearer, which a page can only set on a cross-site request after a CORS preflight that
 *    Parley never grants, needs a JSON content type or our `Origin` (scripts: `curl -H
 *    'Authorization: Bearer …' -H 'Content-Type: application/json'`).
 * Refusals are 403 `{"error":"forbidden","reason":…}`. The board may not be framed by another
 * page either (a framed board would turn an admin's clicks into same-origin writes).
 */
export function queueBoardAccess(adminToken: string, publicUrl: string): RequestHandler {
  const publicOrigin = new URL(publicUrl).origin;
  return (req, res, next) => {
    const credentials = credentialsOf(req);
    if (!credentials?.token || !tokensEqual(credentials.token, adminToken)) {
      res.set("WWW-Authenticate", 'Basic realm="parley"').status(401).json({ error: "unauthorized" });
      return;
    }
    res.set("X-Frame-Options", "DENY");
    res.set("Content-Security-Policy", "frame-ancestors 'none'");
    if (req.method === "GET" || req.method === "HEAD") return next();

    const origin = originOf(req);
    const sameOrigin = origin !== undefined && isOwnOrigin(origin, req, publicOrigin);
    if (origin !== undefined && !sameOrigin) {
      return refuse(res, "foreign_origin", `a write to the queue board from another origin (${origin.slice(0, 100)}) is refused`);
    }
    if (credentials.scheme === "basic" && !sameOrigin) {
      return refuse(
        res,
        "cross_site_write",
        "a write with Basic credentials needs an Origin header equal to this service's origin (use Bearer for scripts)",
      );
    }
    if (credentials.scheme === "bearer" && !sameOrigin && !isJson(req)) {
      return refuse(
        res,
        "cross_site_write",
        "a write needs Content-Type: application/json or an Origin header equal to this service's origin",
      );
    }
    next();
  };
}

/**
 * bull-board over every queue, both backends: a PostgreSQL-backed Queue is a subclass of bullmq's
 * Queue, typed apart, hence the cast. Retries of failed jobs
 * are allowed; the board is otherwise the full UI (clean, pause…) for the admin.
 * Mount the returned router on QUEUE_BOARD_PATH behind `queueBoardAccess`.
 */
export function queueBoardRouter(queues: bullmq.Queue[]): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue as unknown as bullmq.Queue, { allowRetries: true, readOnlyMode: false })),
    serverAdapter,
    options: { uiConfig: { boardTitle: "Parley queues" } },
  });
  return serverAdapter.getRouter() as Router;
}
