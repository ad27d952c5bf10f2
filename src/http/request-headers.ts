import { isIP } from "node:net";
import type { NextFunction, Request, RequestHandler, Response } from "express";

/**
 * Refuses, before any route, the request headers that would otherwise reach code that cannot take
 * them (each was a 500): a Host (or a trusted proxy's X-Forwarded-Host) that is not a host[:port],
 * a trusted X-Forwarded-Proto other than http/https, or a trusted X-Forwarded-For whose client is
 * not an address. X-Forwarded-* from a client that is not a trusted proxy (TRUST_PROXY) are
 * ignored by express, so not checked. Malformed signature headers are federation's to refuse
 * (federation/signature-header-guard.ts), mounted right after this.
 */

const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?)(?::([0-9]{1,5}))?$/;

function validHost(value: string): boolean {
  const match = HOST.exec(value);
  if (!match || (match[1] !== undefined && Number(match[1]) > 65535)) return false;
  try {
    new URL(`http://${value}/`);
    return true;
  } catch {
    return false;
  }
}

const badRequest = (res: Response, field: string, message: string) => res.status(400).json({ error: "invalid_request", field, message });

export function refuseMalformedHeaders(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const host = req.headers.host;
    if (host !== undefined && !validHost(host)) return badRequest(res, "host", "the Host header is not a host name with an optional port");
    // req.host is X-Forwarded-Host when the peer is a trusted proxy, else the Host header.
    if (req.get("x-forwarded-host") !== undefined && req.host !== host && req.host !== undefined && !validHost(req.host)) {
      return badRequest(res, "x-forwarded-host", "X-Forwarded-Host is not a host name with an optional port");
    }
    const protocol = req.protocol.toLowerCase();
    if (protocol !== "http" && protocol !== "https")
      return badRequest(res, "x-forwarded-proto", "X-Forwarded-Proto is neither http nor https");
    if (!isIP(req.ip ?? "")) return badRequest(res, "x-forwarded-for", "X-Forwarded-For does not end in a client address");
    next();
  };
}
