import { verifyRequest } from "@fedify/fedify/sig";
import { and, eq } from "drizzle-orm";
import type { Request as ExpressRequest, Response as ExpressResponse, NextFunction } from "express";
import { Router } from "express";
import { messages } from "../db/schema/index.js";
import { notFound } from "../http/errors.js";
import type { Deps } from "../shared/deps.js";
import { isId } from "../shared/ids.js";
import { remoteDocumentLoader } from "./document-loader.js";
import { activityContext, chatMessageObject, createActivity } from "./outgoing/activities.js";
import { loadParts } from "./outgoing/deliveries.js";

/**
 * `GET /objects/:id` (our ChatMessage) and `GET /activities/:id` (its Create) of a message we
 * authored. Chats are private: only a request signed — draft-cavage or RFC 9421, checked
 * by Fedify's `verifyRequest` with the SSRF-guarded remote document loader — by a key on the
 * origin of one of the two participants' actors is answered; anyone else, unsigned, a remote
 * message we only received and an unknown id all get the same 404. A deleted message is a
 * `Tombstone` (410) to the participants: `formerType` `ChatMessage` for the object, `Create` for
 * the activity. Update/Delete activity ids are not served (only the message's Create is stored
 * as such). Fedify has no dispatcher on these paths; this router is mounted before its bridge.
 */

type Kind = "object" | "activity";

const ACTIVITY_JSON = "application/activity+json";

/** The request as the fetch API sees it, for the signature check (GET/HEAD: no body). */
function toFetchRequest(req: ExpressRequest): Request {
  const url = `${req.protocol}://${req.get("host")}${req.originalUrl}`;
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const v of [value ?? []].flat()) {
      try {
        headers.append(name, v);
      } catch {
        // A header fetch refuses is not one a signature covers.
      }
    }
  }
  return new Request(url, { method: req.method, headers });
}

/**
 * Whether the signature covers who the request was for and when (Mastodon's rule for GETs):
 * draft-cavage `headers` with `host` and `date` or `(created)`; RFC 9421 components naming the
 * authority (`@authority`, `@target-uri` or `host`). Fedify verifies whatever the signer chose to
 * cover; a signature without the host could be replayed here from a fetch of the same path made
 * to another server (one the attacker runs), and one without a date at any time.
 */
function coversHostAndDate(req: ExpressRequest): boolean {
  const input = req.get("signature-input");
  if (input) {
    const components = input.toLowerCase();
    return /"(@authority|@target-uri|host)"/.test(components) && (/;created=\d+/.test(components) || /"date"/.test(components));
  }
  const signature = req.get("signature");
  if (!signature) return true; // unsigned: verifyRequest refuses it anyway
  const headers = /(?:^|,)\s*headers\s*=\s*"([^"]*)"/i.exec(signature)?.[1];
  // No `headers` parameter means `date` only (draft-cavage §2.1.6): no host.
  const names = (headers ?? "date").toLowerCase().split(/\s+/);
  return names.includes("host") && (names.includes("date") || names.includes("(created)"));
}

export function objectsRouter(deps: Deps): Router {
  const { db, config, logger } = deps;
  const publicUrl = config.publicUrl;
  const loader = remoteDocumentLoader(config);

  /** The origin of the signing key, or undefined when the request carries no valid signature. */
  async function signerOrigin(req: ExpressRequest): Promise<string | undefined> {
    if (!coversHostAndDate(req)) return undefined;
    try {
      const key = await verifyRequest(toFetchRequest(req), { documentLoader: loader, contextLoader: loader });
      return key?.id?.origin;
    } catch (error) {
      logger.debug({ err: error }, "signature of an object fetch not verified");
      return undefined;
    }
  }

  const serve = (kind: Kind) => async (req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
    try {
      // The answer depends on who signed: no shared cache may keep it.
      res.set("Cache-Control", "private, no-store").vary("Signature").vary("Signature-Input");
      const id = String(req.params.id);
      if (!isId(id)) throw notFound();
      // Looked up by its full id on our origin: a message we only received has its author's.
      const column = kind === "object" ? messages.uri : messages.activityUri;
      const [row] = await db
        .select({ id: messages.id })
        .from(messages)
        .where(and(eq(column, `${publicUrl}/${kind === "object" ? "objects" : "activities"}/${id}`), eq(messages.local, true)));
      const parts = row ? await loadParts(db, row.id) : undefined;
      if (!parts || parts.author.domain !== null) throw notFound();
      // The message first, then the signature: an unknown id costs no key fetch.
      const origin = await signerOrigin(req);
      const participants = [parts.author.uri, parts.recipient.uri].map((uri) => new URL(uri).origin);
      if (!origin || !participants.includes(origin)) throw notFound();

      if (parts.message.deletedAt) {
        res
          .status(410)
          .type(ACTIVITY_JSON)
          .send(
            JSON.stringify({
              "@context": activityContext(publicUrl),
              id: kind === "object" ? parts.message.uri : parts.message.activityUri,
              type: "Tombstone",
              formerType: kind === "object" ? "ChatMessage" : "Create",
              deleted: parts.message.deletedAt.toISOString(),
            }),
          );
        return;
      }
      const body =
        kind === "object"
          ? { "@context": activityContext(publicUrl), ...chatMessageObject(parts, publicUrl) }
          : createActivity(parts, publicUrl);
      res.status(200).type(ACTIVITY_JSON).send(JSON.stringify(body));
    } catch (error) {
      next(error);
    }
  };

  const router = Router();
  router.get("/objects/:id", serve("object"));
  router.get("/activities/:id", serve("activity"));
  return router;
}
