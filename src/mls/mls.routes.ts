import { type NextFunction, type Request, type Response, Router } from "express";
import type { AccountRow } from "../accounts/account.view.js";
import { findLocalAccountByUsername } from "../accounts/account.view.js";
import { outboxIntake } from "../federation/outbox.routes.js";
import { ApiError } from "../http/errors.js";
import type { Deps } from "../shared/deps.js";
import { newId } from "../shared/ids.js";
import { checkMlsObject } from "./checks.js";
import { keyPackagesCollectionUri, MLS_JSON_CONTEXT, publishKeyPackage, removeKeyPackage } from "./key-packages.service.js";
import { findOwnKeyPackage, keyPackageById, liveKeyPackageUris } from "./key-packages.view.js";
import { sendMlsMessage } from "./mls-messages.service.js";
import { looksLikeMlsObject, mlsTypeOf } from "./vocabulary.js";

/**
 * MLS over ActivityPub, the routes (docs/mls.md):
 *  - the C2S outbox takes the MLS submissions (a Create of one of the five MLS types; a Delete,
 *    Remove or Add of one's own KeyPackage) before the ChatMessage outbox, which gets the rest;
 *  - `GET /users/:username/key-packages` (public Collection, newest first) and `GET /key-packages/:id`.
 */

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);
const idOf = (value: unknown) =>
  typeof value === "string" ? value : isObject(value) && typeof value.id === "string" ? value.id : undefined;

/** The activity's `to`, when the client gives one, names the same actors as the object's (the draft's rule). */
function sameRecipients(activityTo: unknown, objectTo: string[]): boolean {
  const uris = [activityTo].flat().map(idOf);
  if (uris.some((uri) => uri === undefined)) return false;
  const normalised = new Set(
    uris.map((uri) => {
      try {
        return new URL(uri!).href;
      } catch {
        return uri!;
      }
    }),
  );
  return normalised.size === objectTo.length && objectTo.every((uri) => normalised.has(uri));
}

/** KeyPackage lifecycle verbs a client may post about its own packages. */
const KEY_PACKAGE_VERBS = new Set(["Delete", "Remove", "Add"]);

const refused = (status: number, reason: string, extra: Json = {}) => new ApiError(status, "invalid_mls_object", { reason, ...extra });

/** Is this outbox body about MLS (so the MLS handler answers it)? */
function mlsSubmission(
  body: unknown,
  publicUrl: string,
): { kind: "create"; activity?: Json; object: Json } | { kind: "verb"; activity: Json } | undefined {
  if (!isObject(body)) return undefined;
  if (body.type === "Create" && isObject(body.object) && looksLikeMlsObject(body.object))
    return { kind: "create", activity: body, object: body.object };
  if (looksLikeMlsObject(body)) return { kind: "create", object: body };
  if (typeof body.type === "string" && KEY_PACKAGE_VERBS.has(body.type)) {
    const target = idOf(body.object);
    const aboutKeyPackage =
      (isObject(body.object) && mlsTypeOf(body.object) === "KeyPackage") || target?.startsWith(`${publicUrl}/key-packages/`);
    if (aboutKeyPackage) return { kind: "verb", activity: body };
  }
  return undefined;
}

function sendActivity(res: Response, status: number, activity: Json) {
  res.status(status).set("Location", String(activity.id)).type("application/activity+json").send(JSON.stringify(activity));
}

async function createMls(deps: Deps, owner: AccountRow, submission: { activity?: Json; object: Json }, res: Response) {
  const actor = idOf(submission.activity?.actor);
  if (actor !== undefined && actor !== owner.uri) throw refused(422, "actor_mismatch", { field: "actor" });
  // ActivityPub's C2S rules: the server may set the author, and copies the Create's recipients to
  // an object that names none. What a client does state is checked as given.
  const object: Json = { ...submission.object };
  object.attributedTo ??= owner.uri;
  if (object.to === undefined && submission.activity?.to !== undefined) object.to = submission.activity.to;
  const checked = await checkMlsObject(object, owner.uri);
  if (!checked.ok) throw refused(422, checked.reason, { field: checked.field, ...(checked.detail ? { detail: checked.detail } : {}) });
  if (!("keyPackage" in checked)) {
    const activityTo = submission.activity?.to;
    if (activityTo !== undefined && !sameRecipients(activityTo, checked.envelope.recipients)) {
      throw refused(422, "to_mismatch", { field: "to" });
    }
    const { activity } = await sendMlsMessage(deps, owner, object, checked);
    return sendActivity(res, 201, activity);
  }
  const { activity } = await publishKeyPackage(deps.db, deps.config.publicUrl, owner, object, checked.keyPackage);
  sendActivity(res, 201, activity);
}

/** Delete / Remove (the package leaves the collection) and Add (a no-op: Create already lists it) of one's own package. */
async function keyPackageVerb(deps: Deps, owner: AccountRow, activity: Json, res: Response) {
  const uri = idOf(activity.object);
  if (!uri) throw refused(422, "no_object", { field: "object" });
  const row = await findOwnKeyPackage(deps.db, owner.id, uri);
  if (!row) {
    // Someone else's package is not the caller's to touch; an unknown one is already gone.
    const other = uri.startsWith(`${deps.config.publicUrl}/key-packages/`) && (await keyPackageById(deps.db, uri.split("/").pop()!));
    if (other) throw new ApiError(403, "forbidden");
  }
  if (activity.type !== "Add" && row) await removeKeyPackage(deps.db, owner.id, uri);
  if (activity.type === "Add" && (!row || row.removedAt || row.consumedAt)) throw refused(422, "key_package_not_live", { field: "object" });
  const id = `${deps.config.publicUrl}/activities/${newId()}`;
  sendActivity(res, 201, {
    "@context": MLS_JSON_CONTEXT,
    id,
    type: activity.type,
    actor: owner.uri,
    object: uri,
    ...(activity.type === "Delete" ? {} : { target: keyPackagesCollectionUri(owner.uri) }),
  });
}

export function mlsRouter(deps: Deps): Router {
  const router = Router();
  const activityJson = (res: Response, body: Json) => res.type("application/activity+json").send(JSON.stringify(body));

  router.post("/users/:username/outbox", ...outboxIntake(deps), async (req: Request, res: Response, next: NextFunction) => {
    try {
      const submission = mlsSubmission(req.body, deps.config.publicUrl);
      if (!submission) return next();
      const owner = res.locals.owner as AccountRow;
      if (submission.kind === "create") await createMls(deps, owner, submission, res);
      else await keyPackageVerb(deps, owner, submission.activity, res);
    } catch (error) {
      next(error);
    }
  });

  router.get("/users/:username/key-packages", async (req: Request, res: Response, next: NextFunction) => {
    try {
      const username = String(req.params.username);
      const owner = await findLocalAccountByUsername(deps.db, username);
      if (!owner || owner.username !== username || owner.deletedAt) return res.status(404).json({ error: "not_found" });
      const items = await liveKeyPackageUris(deps.db, owner.id);
      activityJson(res, {
        "@context": MLS_JSON_CONTEXT,
        id: keyPackagesCollectionUri(owner.uri),
        type: "Collection",
        attributedTo: owner.uri,
        totalItems: items.length,
        items,
      });
    } catch (error) {
      next(error);
    }
  });

  router.get("/key-packages/:id", async (req: Request, res: Response, next: NextFunction) => {
    try {
      const row = await keyPackageById(deps.db, String(req.params.id));
      if (!row) return res.status(404).json({ error: "not_found" });
      // Deleted by its owner: gone. Consumed by a Welcome: still readable (a client may be mid-fetch), no longer listed.
      if (row.removedAt) return res.status(410).json({ error: "gone" });
      activityJson(res, { "@context": MLS_JSON_CONTEXT, ...(row.object as Json) });
    } catch (error) {
      next(error);
    }
  });
  return router;
}
