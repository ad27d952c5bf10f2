import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import type * as bullmq from "bullmq";
import type { RequestHandler, Router } from "express";
import { tokensEqual } from "../accounts/tokens.js";

export const QUEUE_BOARD_PATH = "/admin/queues";

/**
 * ADMIN_TOKEN on a whole mount path: `Authorization: Bearer <token>`, or Basic auth with any user
 * name and the token as password (what a browser asks for after the challenge). Anything else:
 * 401 with a Basic challenge, so a browser shows its login dialog.
 */
export function requireAdminToken(adminToken: string): RequestHandler {
  return (req, res, next) => {
    const header = req.headers.authorization ?? "";
    const [scheme, value = ""] = header.trim().split(/\s+/, 2);
    let given: string | undefined;
    if (/^bearer$/i.test(scheme ?? "")) given = value;
    else if (/^basic$/i.test(scheme ?? "")) {
      const decoded = Buffer.from(value, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon >= 0) given = decoded.slice(colon + 1);
    }
    if (given && tokensEqual(given, adminToken)) return next();
    res.set("WWW-Authenticate", 'Basic realm="parley"').status(401).json({ error: "unauthorized" });
  };
}

/**
 * bull-board over every queue (SPEC §7), both backends: a PostgreSQL-backed Queue is a subclass of
 * bullmq's Queue, typed apart (reference/stack.md §11.2), hence the cast. Retries of failed jobs
 * are allowed; the board is otherwise the full UI (clean, pause…) for the admin.
 * Mount the returned router on QUEUE_BOARD_PATH behind `requireAdminToken`.
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
