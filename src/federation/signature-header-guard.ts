import type { NextFunction, Request, RequestHandler, Response } from "express";
import { checkSignatureHeaders } from "./signature-headers.js";

/**
 * Refuses, before any route, a request whose signature headers are malformed or ambiguous
 * (signature-headers.ts says which and why): a 401 naming the problem rather than a 500 or a
 * second key fetched. Sets `res.locals.signatureKeyIdHost` for the inbox's pre-verification check.
 */
export function refuseMalformedSignatureHeaders(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const signature = checkSignatureHeaders((name) => req.get(name));
    if (signature.problem) {
      res.status(401).json({ error: "invalid_signature", reason: signature.problem, message: signature.detail });
      return;
    }
    res.locals.signatureKeyIdHost = signature.keyIdHost;
    next();
  };
}
