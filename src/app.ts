import { randomUUID } from "node:crypto";
import express, { type Express } from "express";
import { pinoHttp } from "pino-http";
import { accountRoutes } from "./accounts/account.routes.js";
import { MISSING_AVATAR_PATH } from "./accounts/account.view.js";
import { adminRoutes } from "./accounts/admin.routes.js";
import { adminAccountListRoutes } from "./accounts/admin-account-list.routes.js";
import { domainBlockRoutes } from "./accounts/domain-block.routes.js";
import { relationshipRoutes } from "./accounts/relationship.routes.js";
import { searchRoutes } from "./accounts/search.routes.js";
import { accountForToken, tokensEqual } from "./accounts/tokens.js";
import { adminChatRoutes } from "./chats/admin-chat.routes.js";
import { chatRoutes } from "./chats/chat.routes.js";
import { federationBridge } from "./federation/bridge.js";
import { litepubContextRoutes } from "./federation/context.routes.js";
import type { ParleyFederation } from "./federation/federation.js";
import { invalidActivityExplainer } from "./federation/inbox/unparsable.js";
import { objectsRouter } from "./federation/objects.routes.js";
import { outboxRouter } from "./federation/outbox.routes.js";
import { refuseMalformedSignatureHeaders } from "./federation/signature-header-guard.js";
import { errorHandler } from "./http/error-handler.js";
import { mountApiDocs } from "./http/openapi.js";
import { inboxPreVerificationLimits } from "./http/rate-limit.js";
import { refuseMalformedHeaders } from "./http/request-headers.js";
import { type AnyRoute, mountRoutes } from "./http/route.js";
import { homePage } from "./instance/home.js";
import { instanceRoutes } from "./instance/instance.routes.js";
import { emojiRoutes } from "./media/emoji.routes.js";
import { mediaFilesRouter } from "./media/files.js";
import { mediaRoutes } from "./media/media.routes.js";
import { adminMlsRoutes } from "./mls/admin-mls.routes.js";
import { mlsMailboxRoutes } from "./mls/mailbox.routes.js";
import { messagesCollectionRouter } from "./mls/messages-collection.routes.js";
import { mlsRouter } from "./mls/mls.routes.js";
import { notificationRoutes } from "./notifications/notification.routes.js";
import { metricsHandler } from "./ops/metrics.js";
import { QUEUE_BOARD_PATH, queueBoardAccess, queueBoardRouter } from "./ops/queue-board.js";
import { readinessHandler } from "./ops/readiness.js";
import type { Deps } from "./shared/deps.js";
import { redactUrl } from "./shared/logger.js";
import { streamingRoutes } from "./streaming/streaming.routes.js";

export const apiRoutes: AnyRoute[] = [
  ...adminRoutes,
  ...adminAccountListRoutes,
  ...domainBlockRoutes,
  // Before accountRoutes: `/api/v1/accounts/search` and `/relationships` would match `/api/v1/accounts/:id`.
  ...searchRoutes,
  ...relationshipRoutes,
  ...accountRoutes,
  ...chatRoutes,
  ...adminChatRoutes,
  ...adminMlsRoutes,
  ...mediaRoutes,
  ...emojiRoutes,
  ...instanceRoutes,
  ...litepubContextRoutes,
  ...notificationRoutes,
  ...streamingRoutes,
  ...mlsMailboxRoutes,
];

// 1×1 transparent PNG.
const MISSING_AVATAR = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

export function buildApp(deps: Deps, federation: ParleyFederation): Express {
  const app = express();
  app.disable("x-powered-by");
  // No ETag on API answers: express would hash every body (the v1 chat list is megabytes) for a
  // header no chat client sends back. A function (not `false`) keeps ETags on media files, which
  // express gives them only while the setting is enabled.
  app.set("etag", () => undefined);
  // PUBLIC_URL is the origin; behind a proxy, X-Forwarded-* say how the request reached us — but
  // only from the proxies TRUST_PROXY lists (default loopback): any other client would choose the
  // address it is rate-limited and logged under.
  app.set("trust proxy", deps.config.trustProxy);
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const id = (req.headers["x-request-id"] as string | undefined)?.slice(0, 128) || randomUUID();
        res.setHeader("X-Request-Id", id);
        return id;
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? "error" : res.statusCode >= 400 ? "warn" : "info"),
      autoLogging: { ignore: (req) => req.url === "/healthz" || req.url === "/readyz" || req.url === "/metrics" },
      quietReqLogger: true,
      // The logged URL keeps its query string, where streaming clients may put `access_token`.
      serializers: { req: (req: { url?: string }) => Object.assign(req, { url: req.url && redactUrl(req.url) }) },
    }),
  );

  // Latency by route pattern, and the answers of the inbox (src/ops/metrics.ts).
  if (deps.metrics) app.use(deps.metrics.httpDuration, deps.metrics.inboxCounter);
  // A malformed Host, trusted X-Forwarded-*, Date, Digest or Signature: 400/401 naming it, before any route.
  app.use(refuseMalformedHeaders(), refuseMalformedSignatureHeaders());
  // Open, like /healthz: see the README's operations section.
  if (deps.metrics) app.get("/metrics", metricsHandler(deps.metrics));
  // bull-board: ADMIN_TOKEN on the whole mount path (the UI's XHR calls go to /admin/queues/api/*), no cross-site writes.
  app.use(QUEUE_BOARD_PATH, queueBoardAccess(deps.adminToken, deps.config.publicUrl), queueBoardRouter(deps.queues.all()));

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", readinessHandler(deps));
  app.get("/", homePage(deps.config.publicUrl, { queueBoardPath: QUEUE_BOARD_PATH, withMetrics: deps.metrics !== undefined }));
  app.get(MISSING_AVATAR_PATH, (_req, res) => {
    res.type("image/png").set("Cache-Control", "public, max-age=86400").send(MISSING_AVATAR);
  });
  // Uploaded files and custom emoji (public, typed by content, never sniffed).
  app.use(mediaFilesRouter(deps));

  // ActivityPub routes Fedify has no dispatcher for, before its bridge (which would answer 405 to
  // an outbox POST): the C2S outbox POST (bearer token; its own body parser, after auth) and the
  // signed GETs of our chat messages and their Create activities.
  // MLS submissions first (src/mls/mls.routes.ts passes any other outbox body on), with the KeyPackage routes.
  app.use(mlsRouter(deps));
  app.use(messagesCollectionRouter(deps));
  app.use(outboxRouter(deps));
  app.use(objectsRouter(deps));

  // Before any signature work: RATE_LIMIT_INBOX_IP per client address, and a host that spent its
  // RATE_LIMIT_INBOX (counted only once verified, in the listeners) refused without verifying.
  app.post(["/inbox", "/users/:name/inbox"], inboxPreVerificationLimits(deps));

  // Fedify before any general body parser: it must see the raw body of inbox POSTs (a body parser
  // would consume it; the outbox router above parses only its own route's body).
  // Only the paths Fedify owns go through it (it logs every 404 it sees).
  // INBOX_MAX_BYTES caps every body it reads (413 before any signature work).
  app.use(
    ["/.well-known/webfinger", "/users", "/inbox"],
    federationBridge(federation, deps.db, {
      maxBodyBytes: deps.config.inboxMaxBytes,
      explainInvalidActivity: invalidActivityExplainer(deps, federation),
    }),
  );

  const api = express.Router();
  // Pleroma's legacy paths (its LegacyPleromaApiRerouterPlug): `/api/pleroma/…` is `/api/v1/pleroma/…`,
  // so every route below also answers there (the chats, the admin chats, notifications/read).
  api.use((req, _res, next) => {
    if (req.url.startsWith("/api/pleroma/")) req.url = `/api/v1/pleroma/${req.url.slice("/api/pleroma/".length)}`;
    next();
  });
  // Browser clients read Link for pagination.
  api.use((_req, res, next) => {
    res.set("Access-Control-Allow-Origin", "*");
    res.set("Access-Control-Expose-Headers", "Link, Idempotency-Key, Idempotent-Replayed, X-Request-Id, X-Unread-Messages-Count");
    next();
  });
  api.options(/.*/, (_req, res) => {
    res.set("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key");
    res.set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE");
    res.status(204).end();
  });
  mountRoutes(api, deps, apiRoutes, {
    accountForToken: (token) => accountForToken(deps.db, token),
    isAdminToken: (token) => tokensEqual(token, deps.adminToken),
  });
  mountApiDocs(api, apiRoutes, deps.config.publicUrl);
  app.use(api);

  app.use((_req, res) => {
    res.status(404).json({ error: "not_found" });
  });
  app.use(errorHandler);
  return app;
}
