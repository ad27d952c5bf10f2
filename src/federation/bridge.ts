import type { Request as ExpressRequest, NextFunction, RequestHandler, Response as ExpressResponse } from "express";
import { Readable } from "node:stream";
import { findLocalAccountByUsername } from "../accounts/account.view.js";
import type { Database } from "../db/database.js";
import type { ParleyFederation } from "./federation.js";

const ACTOR_PATH = /^\/users\/([^/?#]+)\/?$/;

/**
 * Express → Fedify. Mounted before any body parser: Fedify reads the raw body to check the Digest.
 * Actor documents get `capabilities.acceptsChatMessages`, which Fedify's vocabulary lacks.
 */
export function federationBridge(federation: ParleyFederation, db: Database): RequestHandler {
  return async (req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
    try {
      const url = `${req.protocol}://${req.get("host")}${req.originalUrl}`;
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      const request = new Request(url, {
        method: req.method,
        headers: Object.entries(req.headers).flatMap(([name, value]) =>
          [value ?? []].flat().map((v) => [name, v] as [string, string]),
        ),
        body: hasBody ? (Readable.toWeb(req) as ReadableStream) : undefined,
        duplex: hasBody ? "half" : undefined,
      } as RequestInit);
      let passed = false;
      const response = await federation.fetch(request, {
        contextData: undefined,
        onNotFound: () => {
          passed = true;
          return new Response(null, { status: 404 });
        },
        onNotAcceptable: () => {
          passed = true;
          return new Response(null, { status: 406 });
        },
      });
      if (passed) return next();
      const actorMatch = req.method === "GET" ? new URL(url).pathname.match(ACTOR_PATH) : null;
      if (actorMatch && response.ok && isJsonLd(response)) {
        const actor = await response.json();
        const account = await findLocalAccountByUsername(db, decodeURIComponent(actorMatch[1]));
        res.status(response.status);
        response.headers.forEach((value, name) => {
          if (name !== "content-length") res.set(name, value);
        });
        return res.send(JSON.stringify(withCapabilities(actor, account?.acceptsChatMessages ?? true)));
      }
      res.status(response.status);
      response.headers.forEach((value, name) => res.set(name, value));
      res.send(Buffer.from(await response.arrayBuffer()));
    } catch (error) {
      next(error);
    }
  };
}

function isJsonLd(response: Response): boolean {
  return /application\/(activity|ld)\+json/.test(response.headers.get("content-type") ?? "");
}

function withCapabilities(actor: Record<string, unknown>, accepts: boolean) {
  const context = [actor["@context"] ?? []].flat();
  context.push({
    litepub: "http://litepub.social/ns#",
    xsd: "http://www.w3.org/2001/XMLSchema#",
    capabilities: "litepub:capabilities",
    acceptsChatMessages: { "@id": "litepub:acceptsChatMessages", "@type": "xsd:boolean" },
  });
  return { ...actor, "@context": context, capabilities: { acceptsChatMessages: accepts } };
}
