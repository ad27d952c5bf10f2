import { sql } from "drizzle-orm";
import type { Request as ExpressRequest, Response as ExpressResponse, NextFunction, RequestHandler } from "express";
import { findLocalAccountByUsername } from "../accounts/account.view.js";
import type { Database } from "../db/database.js";
import { isDependencyDown, serviceUnavailableBody, UNAVAILABLE_RETRY_AFTER_S } from "../http/unavailable.js";
import { mlsParseView } from "../mls/parse-view.js";
import type { ParleyFederation } from "./federation.js";
import { RequestParsedAs, withImpliedContext } from "./inbox/implied-context.js";
import type { RequestData, Verdict } from "./inbox/inbox-context.js";
import { inboxRateHeaders } from "./inbox/verified-rate-limit.js";
import { signatureStrengthProblem } from "./signature-headers.js";

const ACTOR_PATH = /^\/users\/([^/?#]+)\/?$/;

export interface BridgeOptions {
  /** Larger request bodies get 413 before Fedify sees them (INBOX_MAX_BYTES). */
  maxBodyBytes: number;
  /**
   * Asked before a 400 "Invalid activity." leaves: an activity Fedify cannot parse may still owe
   * a more precise answer (see inbox/unparsable.ts). Gets a fresh copy of the request.
   */
  explainInvalidActivity?: (request: Request, data: RequestData) => Promise<Verdict | undefined>;
}

class PayloadTooLarge extends Error {}

/**
 * Deepest nesting of arrays and objects a body may have: real activities stay under ten levels;
 * JSON-LD expansion recurses per level and overflows the stack (a 500) some thousands deep.
 */
const MAX_JSON_DEPTH = 64;

/** Whether the JSON text nests arrays/objects deeper than `max` (strings skipped; no full parse). */
function nestedTooDeep(body: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** Reads the whole body, refusing it as soon as it grows past `limit` bytes. */
async function readBody(req: ExpressRequest, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw new PayloadTooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new PayloadTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Express → Fedify. Mounted before any body parser: Fedify reads the raw body to check the Digest.
 * Actor documents get `capabilities.acceptsChatMessages`, `keyPackages` and `messages`, which Fedify's
 * vocabulary lacks.
 * Fedify's plain-text refusals of inbox POSTs leave as `{"error": code}` like the rest of the API.
 */
export function federationBridge(federation: ParleyFederation, db: Database, options: BridgeOptions): RequestHandler {
  return async (req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
    try {
      const url = `${req.protocol}://${req.get("host")}${req.originalUrl}`;
      // A NUL (`%00`) in the path or query names no actor or resource, and would reach PostgreSQL
      // (which refuses it: a 500) through the actor, outbox and WebFinger lookups.
      if (/%00/.test(req.originalUrl)) return res.status(404).json({ error: "not_found" });
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      let body: Buffer | undefined;
      if (hasBody) {
        try {
          body = await readBody(req, options.maxBodyBytes);
        } catch (error) {
          if (!(error instanceof PayloadTooLarge)) throw error;
          // The rest of the body is not read: close the connection rather than drain it.
          res.set("Connection", "close");
          return res.status(413).json({ error: "payload_too_large" });
        }
        if (nestedTooDeep(body, MAX_JSON_DEPTH)) {
          return res.status(400).json({ error: "invalid_activity", message: `nested deeper than ${MAX_JSON_DEPTH} levels` });
        }
      }
      const headers = Object.entries(req.headers).flatMap(([name, value]) =>
        [value ?? []].flat().map((v) => [name, v] as [string, string]),
      );
      // An activity without `@context` is parsed as Pleroma's ActivityStreams + litepub (inbox/implied-context.ts);
      // one carrying an MLS object, with `Object` among that object's types (src/mls/parse-view.ts).
      const parsedWithContext = hasBody ? mlsParseView(body!, withImpliedContext(body!, new URL(url).origin)) : undefined;
      const makeRequest = () =>
        parsedWithContext
          ? new RequestParsedAs(url, { method: req.method, headers, body: body! }, parsedWithContext)
          : new Request(url, { method: req.method, headers, body: hasBody ? new Uint8Array(body!) : undefined });
      const request = makeRequest();
      const weakSignature = hasBody ? signatureStrengthProblem((name) => req.get(name)) : undefined;
      if (weakSignature) return res.status(401).json({ error: "invalid_signature", reason: weakSignature });
      let passed = false;
      // The inbox listeners read the raw JSON, and leave a refusal here (approach A).
      const contextData: RequestData = { body };
      let response: Response;
      try {
        response = await federation.fetch(request, {
          contextData,
          onNotFound: () => {
            passed = true;
            return new Response(null, { status: 404 });
          },
          onNotAcceptable: () => {
            passed = true;
            return new Response(null, { status: 406 });
          },
        });
      } catch (error) {
        // Fedify's JSON-LD parsing throws on some hostile shapes instead of answering 400
        // "Invalid activity.": a number where a date belongs ("v.@value.substring is not a
        // function"), an `@context` that cannot be loaded (jsonld.InvalidUrl). Answered as that
        // 400 (explained below like any unparsable activity), not a 500; a lost dependency stays a 503.
        if (!hasBody || isDependencyDown(error)) throw error;
        req.log?.warn({ err: error }, "inbox: activity Fedify could not parse");
        response = new Response("Invalid activity.", { status: 400, headers: { "content-type": "text/plain; charset=utf-8" } });
      }
      if (passed) return next();
      // RATE_LIMIT_INBOX's headers when a listener counted the request (429s included).
      res.set(inboxRateHeaders(contextData));
      if (contextData.verdict) {
        // The listener threw after deciding: Fedify's 500 is replaced by its answer.
        await response.body?.cancel();
        return res.status(contextData.verdict.status).json(contextData.verdict.body);
      }
      if (response.status >= 500) {
        // Fedify's 500 after a lost dependency (a listener's write, a key lookup in the KV): 503,
        // so the sender retries. The listener's error when it reported one, else a probe.
        const cause =
          contextData.error ??
          (await db.execute(sql`SELECT 1`).then(
            () => undefined,
            (error: unknown) => error,
          ));
        if (isDependencyDown(cause)) {
          await response.body?.cancel();
          return res.set("Retry-After", String(UNAVAILABLE_RETRY_AFTER_S)).status(503).json(serviceUnavailableBody);
        }
      }
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
      if (hasBody && response.status >= 400 && response.status < 500 && !isJson(response)) {
        const text = await response.text();
        if (response.status === 400 && text.trim() === "Invalid activity." && options.explainInvalidActivity) {
          const verdict = await options.explainInvalidActivity(makeRequest(), contextData);
          if (verdict) return res.status(verdict.status).json(verdict.body);
        }
        response.headers.forEach((value, name) => {
          if (name !== "content-type" && name !== "content-length") res.set(name, value);
        });
        return res.status(response.status).json(jsonError(response.status, text));
      }
      res.status(response.status);
      response.headers.forEach((value, name) => {
        res.set(name, value);
      });
      res.send(Buffer.from(await response.arrayBuffer()));
    } catch (error) {
      next(error);
    }
  };
}

function isJson(response: Response): boolean {
  return /[/+]json\b/.test(response.headers.get("content-type") ?? "");
}

/** Fedify's fixed plain-text answers, as `{"error": code}`. */
function jsonError(status: number, text: string): { error: string; reason?: string; message?: string } {
  const message = text.trim() || undefined;
  if (status === 401) {
    return message === "The signer and the actor do not match."
      ? { error: "invalid_signature", reason: "actor_key_mismatch" }
      : { error: "invalid_signature", message };
  }
  if (status === 400) return message === "Invalid JSON." ? { error: "invalid_json" } : { error: "invalid_activity", message };
  const codes: Record<number, string> = { 404: "not_found", 405: "method_not_allowed", 406: "not_acceptable", 410: "gone" };
  return { error: codes[status] ?? "invalid_request", message };
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
    // MLS over ActivityPub: where the actor's KeyPackages and received MLS objects are (src/mls/).
    mls: "https://purl.archive.org/socialweb/mls#",
    keyPackages: { "@id": "mls:keyPackages", "@type": "@id" },
    messages: { "@id": "mls:messages", "@type": "@id" },
  });
  const id = String(actor.id);
  return {
    ...actor,
    "@context": context,
    capabilities: { acceptsChatMessages: accepts },
    keyPackages: `${id}/key-packages`,
    messages: `${id}/mls-messages`,
  };
}
