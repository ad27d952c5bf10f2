import type { UnverifiedActivityReason } from "@fedify/fedify";
import type { Request } from "express";
import type { RemoteFetchErrorCode } from "../federation/http-client.js";
import { CHAT_MESSAGE_REASONS } from "../federation/inbox/chat-message-rules.js";
import type { Outcome } from "../federation/outgoing/policy.js";
import type { SignatureHeaderProblem, SignatureStrengthProblem } from "../federation/signature-headers.js";
import { INBOUND_MLS_REASONS, MLS_REASONS } from "../mls/checks.js";

/**
 * The label values of Parley's metrics, each from a fixed set: a value that a request could choose
 * (a path, a method, a reason in an answer) would add a series per request; 300 requests with 8 KB
 * `/.well-known/…` paths once grew `/metrics` by 34 MB. Anything outside a set is folded into one
 * value (`unmatched`, `other`).
 */

export const UNMATCHED_ROUTE = "unmatched";
export const OTHER = "other";

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** The `method` label: the methods Parley serves; WebDAV and the rest of Node's list are `other`. */
export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : OTHER;
}

/** Statuses Parley answers on purpose; anything else is counted by its class (`4xx`). */
const STATUSES = new Set([
  200, 201, 202, 204, 206, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 406, 409, 410, 413, 415, 422, 429, 500, 502, 503, 504,
]);

/** The `status` label: a known status, else its class (`1xx`…`5xx`), else `other`. */
export function statusLabel(status: number): string {
  if (STATUSES.has(status)) return String(status);
  return status >= 100 && status <= 599 ? `${Math.floor(status / 100)}xx` : OTHER;
}

/**
 * Paths served without an express route (routers of their own, the Fedify bridge, static files),
 * as patterns. Nothing of the raw path reaches a label.
 */
const PATTERNS: [RegExp, string][] = [
  [/^\/users\/[^/]+\/inbox\/?$/, "/users/:name/inbox"],
  [/^\/users\/[^/]+\/outbox\/?$/, "/users/:name/outbox"],
  [/^\/users\/[^/]+\/followers\/?$/, "/users/:name/followers"],
  [/^\/users\/[^/]+\/following\/?$/, "/users/:name/following"],
  [/^\/users\/[^/]+\/?$/, "/users/:name"],
  [/^\/inbox\/?$/, "/inbox"],
  [/^\/\.well-known\/webfinger$/, "/.well-known/webfinger"],
  [/^\/\.well-known\/nodeinfo$/, "/.well-known/nodeinfo"],
  [/^\/\.well-known\/host-meta$/, "/.well-known/host-meta"],
  [/^\/objects\/[^/]+$/, "/objects/:id"],
  [/^\/activities\/[^/]+$/, "/activities/:id"],
  [/^\/media\//, "/media/*"],
  [/^\/admin\/queues(\/|$)/, "/admin/queues/*"],
];

/**
 * Distinct route labels one process may hold. express's patterns are a fixed set written in the
 * code (about 150 today); the cap only guards against a pattern this file does not foresee (a
 * router mounted on a path with parameters would put raw values into `req.baseUrl`).
 */
const MAX_ROUTES = 400;
const seenRoutes = new Set<string>();

/**
 * The `route` label of a request (`/api/v1/pleroma/chats/:id/messages`), never its raw path:
 * express's matched route pattern where there is one, else a fixed pattern, else `unmatched`.
 */
export function routeLabel(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  let label = UNMATCHED_ROUTE;
  if (route && typeof route.path === "string") {
    // express matches paths case-insensitively: `/ADMIN/queues` and `/admin/queues` are one mount.
    label = `${req.baseUrl.toLowerCase()}${route.path}`;
  } else {
    const path = req.originalUrl.split("?")[0].toLowerCase();
    label = PATTERNS.find(([pattern]) => pattern.test(path))?.[1] ?? UNMATCHED_ROUTE;
  }
  if (seenRoutes.has(label)) return label;
  if (seenRoutes.size >= MAX_ROUTES || label.length > 200) return OTHER;
  seenRoutes.add(label);
  return label;
}

/**
 * Why an inbox POST was answered as it was: the reason codes of the inbox's own refusals, of
 * Fedify's signature verification and of the ChatMessage rules. Each list below is typed as a record
 * over its union, so a reason code added to one of those modules fails the typecheck here until
 * it is listed.
 */
const SIGNATURE_HEADER_PROBLEMS: Record<SignatureHeaderProblem, true> = {
  multiple_key_ids: true,
  duplicate_signature_parameter: true,
  multiple_signatures: true,
  malformed_signature: true,
  invalid_date: true,
  malformed_digest: true,
};
const SIGNATURE_STRENGTH_PROBLEMS: Record<SignatureStrengthProblem, true> = { unsupported_algorithm: true, digest_not_sha256: true };
const VERIFICATION_FAILURES: Record<UnverifiedActivityReason["type"], true> = {
  noSignature: true,
  invalidSignature: true,
  keyFetchError: true,
};
const INBOX_ERRORS = [
  "accepted",
  "invalid_activity",
  "invalid_chat_message",
  "invalid_mls_object",
  "invalid_json",
  "invalid_request",
  "invalid_signature",
  "actor_key_mismatch",
  "payload_too_large",
  "rate_limited",
  "domain_blocked",
  "not_found",
  "unauthorized",
  "service_unavailable",
  "internal_error",
];
const INBOX_REASONS = new Set<string>([
  ...INBOX_ERRORS,
  ...CHAT_MESSAGE_REASONS,
  ...MLS_REASONS,
  ...INBOUND_MLS_REASONS,
  ...Object.keys(SIGNATURE_HEADER_PROBLEMS),
  ...Object.keys(SIGNATURE_STRENGTH_PROBLEMS),
  ...Object.keys(VERIFICATION_FAILURES),
]);

/** The `reason` label of an inbox answer: a known code, else `other`. */
export function inboxReasonLabel(reason: string | undefined): string {
  return reason !== undefined && INBOX_REASONS.has(reason) ? reason : OTHER;
}

const FETCH_ERRORS: Record<RemoteFetchErrorCode, true> = {
  invalid_url: true,
  private_address: true,
  timeout: true,
  too_large: true,
  too_many_redirects: true,
  network: true,
};

const DELIVERY_REASONS = new Set([
  "1xx",
  "2xx",
  "3xx",
  "4xx",
  "5xx",
  ...Object.keys(FETCH_ERRORS),
  "domain_blocked",
  "no_signing_key",
  OTHER,
]);

/** The `reason` label of `deliveryAttempt`: one of deliveryReason's values, else `other`. */
export function deliveryReasonLabel(reason: string): string {
  return DELIVERY_REASONS.has(reason) ? reason : OTHER;
}

/** The `reason` label of a delivery outcome: the HTTP status class, else the error code, else `other`. */
export function deliveryReason(outcome: Outcome): string {
  if ("status" in outcome && outcome.status !== undefined) {
    return outcome.status >= 100 && outcome.status <= 599 ? `${Math.floor(outcome.status / 100)}xx` : OTHER;
  }
  const error = "error" in outcome ? outcome.error : "";
  const code = /^([a-z_]+):/.exec(error)?.[1];
  if (code && Object.hasOwn(FETCH_ERRORS, code)) return code;
  if (error.startsWith("invalid inbox URL")) return "invalid_url";
  if (error.startsWith("domain blocked")) return "domain_blocked";
  if (error.startsWith("no signing key")) return "no_signing_key";
  return OTHER;
}
