import type { ErrorRequestHandler } from "express";
import { asApiError } from "./errors.js";
import { isDependencyDown, serviceUnavailableBody, UNAVAILABLE_RETRY_AFTER_S } from "./unavailable.js";

/** busboy's errors on a malformed multipart or urlencoded body (it gives them no status). */
const BROKEN_FORM =
  /^(Multipart: Boundary not found|Malformed part header|Malformed urlencoded form|Malformed content type|Unexpected end of (form|file)|Unsupported content type|Missing Content-Type)/;

/** Every error leaves as `{"error": code}`; only the unexpected is a 500, and it is logged. */
export const errorHandler: ErrorRequestHandler = (error, req, res, _next) => {
  if (res.headersSent) return;
  const refusal = asApiError(error);
  if (refusal) {
    res.set(refusal.headers).status(refusal.status).json(refusal);
    return;
  }
  const status = (error as { status?: number; statusCode?: number }).status ?? (error as { statusCode?: number }).statusCode;
  if (status === 413 || error?.type === "entity.too.large") {
    res.status(413).json({ error: "payload_too_large" });
    return;
  }
  // PostgreSQL or Redis unreachable: a transient 503 (the transaction rolled back), not a bug.
  if (isDependencyDown(error)) {
    req.log.warn({ err: error }, "dependency unavailable");
    res.set("Retry-After", String(UNAVAILABLE_RETRY_AFTER_S)).status(503).json(serviceUnavailableBody);
    return;
  }
  if (error?.type === "entity.parse.failed") {
    res.status(400).json({ error: "invalid_json", message: "the request body is not valid JSON" });
    return;
  }
  // A path parameter that is not valid percent-encoding (`%E0%A4%A`) names nothing: 404, as any
  // id that is not one of ours (express says 400 "Failed to decode param" without naming a field).
  if (error instanceof URIError || (status === 400 && /^Failed to decode param/.test(String(error?.message)))) {
    res.status(404).json({ error: "not_found" });
    return;
  }
  // busboy (under multer) throws plain Errors on a broken multipart or form body.
  if (BROKEN_FORM.test(String(error?.message)) && !(typeof status === "number" && status >= 500)) {
    res.status(400).json({ error: "invalid_request", field: "body", message: String(error.message) });
    return;
  }
  if (error?.name === "MulterError" || (typeof status === "number" && status >= 400 && status < 500)) {
    res.status(400).json({ error: "invalid_request", message: String(error.message) });
    return;
  }
  req.log.error({ err: error }, "unhandled error");
  res.status(500).json({ error: "internal_error" });
};
