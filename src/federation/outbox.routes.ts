import express, { type NextFunction, type Request, type RequestHandler, type Response, Router } from "express";
import type { AccountRow } from "../accounts/account.view.js";
import { findLocalAccountByUsername } from "../accounts/account.view.js";
import { accountForToken, tokensEqual } from "../accounts/tokens.js";
import { postMessage } from "../chats/local-message.service.js";
import { ApiError, notFound, unauthorized } from "../http/errors.js";
import { bearerToken } from "../http/route.js";
import { linkCardRequests } from "../link-cards/link-cards.js";
import { findOwnMediaByUrl } from "../media/media.view.js";
import type { Deps } from "../shared/deps.js";
import { contentOf, httpUrl, idOf, isJsonObject, type Json, recipientsOf, sameUri } from "./as-json.js";
import { type ChatMessageReason, firstAttachment } from "./inbox/chat-message-rules.js";
import { createActivity } from "./outgoing/activities.js";
import { loadParts } from "./outgoing/deliveries.js";
import { RemoteActorError, resolveRemoteActor } from "./remote-actors.js";

/**
 * ActivityPub client-to-server outbox: `POST /users/:username/outbox` with the account's
 * bearer token and a `ChatMessage`, or a `Create` wrapping one. The body goes through the rules of
 * docs/federation.md that apply to a message we author, then through
 * `local-message.service.postMessage` — the path of `POST /api/v1/pleroma/chats/:id/messages`: same composing, acceptance and block checks, storage,
 * chat creation and remote delivery. Answers 201 with `Location` of the new `Create` and its JSON.
 *
 * What the server decides, not the client (AP §6): ids, `published`, `actor`/`attributedTo` (an
 * explicit other author is refused), tags (emoji come from `:shortcode:` in the text, the Mention
 * from the recipient). `content` is the author's plain text, as the chat API's `content` field:
 * it is composed the same way (escaped, URLs linked, newlines → `<br/>`), so HTML markup is NOT
 * interpreted — `<b>hi</b>` arrives as the literal text "<b>hi</b>". When the object carries
 * `source.content` (AS2's "what the author typed"), that text is used instead of `content`.
 * One attachment is taken when it names one of the author's own uploads by the URL it is served at
 * (`POST /api/v1/media` first, then its `url` in the object's `attachment`: a Document, a Link, a
 * bare URL or Pleroma's `url` list); its stored description stands. Anything else — another
 * account's upload, a URL elsewhere, more than one attachment — is refused
 * (`unsupported_attachment`): fetching remote files is not the outbox's business, and dropping
 * one silently would lose part of the message.
 */

export const ACTIVITY_MEDIA_TYPES = ["application/activity+json", "application/ld+json", "application/json"];

/** The inbox's ChatMessage reason codes (docs/federation.md), plus one of the outbox's own. */
export type OutboxReason = ChatMessageReason | "unsupported_attachment";

export type OutboxReading =
  | { ok: true; to: string; text: string /** The URL of the one attachment, when there is one. */; attachmentUrl?: string }
  | { ok: false; reason: OutboxReason };

/** Addressing properties other than `to`: they may only repeat the one recipient. */
const OTHER_ADDRESSING = ["cc", "bto", "bcc", "audience"] as const;

/**
 * Reads a C2S submission by `authorUri`, checking in the inbox rules' order what does not need the network
 * (the recipient is resolved afterwards, by the caller): type, author, recipient count, the
 * Create's `to`, attachments, content and its length (CHAT_MESSAGE_LIMIT, as the chat API).
 */
export function readOutboxChatMessage(body: unknown, authorUri: string, limit: number): OutboxReading {
  const fail = (reason: OutboxReason): OutboxReading => ({ ok: false, reason });
  if (!isJsonObject(body)) return fail("wrong_type");
  let activity: Json | undefined;
  let object: unknown = body;
  if (body.type === "Create") {
    activity = body;
    // A Create of an object by reference cannot be a new message.
    object = body.object;
  }
  if (!isJsonObject(object) || object.type !== "ChatMessage") return fail("wrong_type");

  const authors = [activity?.actor, object.actor, object.attributedTo]
    .filter((v) => v !== undefined && v !== null)
    .flatMap((v) => [v].flat());
  if (!authors.every((author) => sameUri(idOf(author), authorUri))) return fail("actor_mismatch");

  const to = recipientsOf(object.to);
  if (to.length !== 1) return fail("recipient_count");
  for (const holder of [object, activity]) {
    if (!holder) continue;
    for (const field of OTHER_ADDRESSING) {
      if (recipientsOf(holder[field]).some((uri) => uri !== to[0])) return fail("recipient_count");
    }
  }
  // AP §6.2: the server copies the object's addressing to a Create without one; one given must agree.
  if (activity && activity.to !== undefined && activity.to !== null) {
    const activityTo = recipientsOf(activity.to);
    if (activityTo.length !== 1 || activityTo[0] !== to[0]) return fail("to_mismatch");
  }

  const attachments = [object.attachment].flat().filter((a) => a !== undefined && a !== null);
  const attachmentUrl = attachments.length === 1 ? attachmentHref(attachments[0]) : undefined;
  if (attachments.length > 0 && !attachmentUrl) return fail("unsupported_attachment");
  const source = isJsonObject(object.source) && typeof object.source.content === "string" ? object.source.content : undefined;
  const text = source ?? contentOf(object);
  if (text.trim() === "" && !attachmentUrl) return fail("no_content");
  if ([...text].length > limit) return fail("content_too_long");
  return { ok: true, to: to[0], text, ...(attachmentUrl ? { attachmentUrl } : {}) };
}

/** The URL an attachment names: a string, or an object whose `url` (string, Link or list) or `href` gives one. */
function attachmentHref(attachment: unknown): string | undefined {
  if (typeof attachment === "string") return httpUrl(attachment)?.href;
  return isJsonObject(attachment) ? firstAttachment({ attachment })?.url : undefined;
}

const invalid = (reason: OutboxReason) => new ApiError(422, "invalid_chat_message", { reason });

/**
 * The recipient's account: local, or a remote actor fetched (or cached) through the SSRF-guarded
 * client. A known actor whose refresh failed or that is gone keeps its row, so the chat API's
 * refusals (`recipient_gone`, …) apply as they would to the same account there.
 */
async function resolveRecipient(deps: Deps, uri: string): Promise<AccountRow> {
  try {
    const account = await resolveRemoteActor(deps, uri);
    // A deleted local account keeps its row (a tombstone reserving the name): it is nobody now.
    if (account.deletedAt) throw invalid("unknown_recipient");
    return account;
  } catch (error) {
    if (!(error instanceof RemoteActorError)) throw error;
    if (error.details.account) return error.details.account;
    deps.logger.debug({ uri, code: error.code, err: error.message }, "outbox recipient not resolved");
    throw invalid("unknown_recipient");
  }
}

/** The owner of the outbox, when the bearer token is theirs: 401 without a valid token, 404 unknown, 403 anyone else. */
export async function outboxOwner(deps: Deps, req: Request): Promise<AccountRow> {
  const token = bearerToken(req);
  if (!token) throw unauthorized("missing_token");
  const admin = tokensEqual(token, deps.adminToken);
  const caller = admin ? undefined : await accountForToken(deps.db, token);
  if (!admin && !caller) throw unauthorized();
  const username = String(req.params.username);
  const owner = await findLocalAccountByUsername(deps.db, username);
  // One canonical actor per account, as the actor dispatcher: other spellings name no outbox.
  if (!owner || owner.username !== username) throw notFound();
  // The admin token speaks for no account.
  if (caller?.id !== owner.id) throw new ApiError(403, "forbidden");
  return owner;
}

/**
 * Mounted before the Fedify bridge (which keeps `GET` of the outbox: an empty collection).
 * The body is parsed only once the caller is known, as on the API routes.
 */
/**
 * What every outbox POST goes through before its handler: the owner authenticated (once per
 * request: the MLS outbox, mounted first, passes the request on with `res.locals.owner` set), the
 * media type checked, then the body parsed (a body parsed already is left as it is).
 */
export function outboxIntake(deps: Deps): RequestHandler[] {
  const authenticate = async (req: Request, res: Response, next: NextFunction) => {
    try {
      res.locals.owner ??= await outboxOwner(deps, req);
      if (!req.is(ACTIVITY_MEDIA_TYPES)) throw new ApiError(415, "unsupported_media_type");
      next();
    } catch (error) {
      next(error);
    }
  };
  return [authenticate, express.json({ type: ACTIVITY_MEDIA_TYPES, limit: "1mb" })];
}

export function outboxRouter(deps: Deps): Router {
  const router = Router();
  router.post("/users/:username/outbox", ...outboxIntake(deps), async (req: Request, res: Response, next: NextFunction) => {
    try {
      const owner = res.locals.owner as AccountRow;
      const reading = readOutboxChatMessage(req.body, owner.uri, deps.config.chatMessageLimit);
      if (!reading.ok) throw invalid(reading.reason);
      let mediaId: string | undefined;
      if (reading.attachmentUrl) {
        const upload = await findOwnMediaByUrl(deps.db, owner.id, reading.attachmentUrl, deps.config.publicUrl);
        if (!upload) throw invalid("unsupported_attachment");
        mediaId = upload.id;
      }
      const recipient = await resolveRecipient(deps, reading.to);
      const input = { content: reading.text, mediaId };
      const result = await postMessage(deps.db, deps.config, owner, recipient, input, deps.queues.deliver, linkCardRequests(deps));
      const parts = result.messageId ? await loadParts(deps.db, result.messageId) : undefined;
      if (!parts) throw new Error("the posted message was not found");
      const activity = createActivity(parts, deps.config.publicUrl);
      res.status(201).set("Location", activity.id).type("application/activity+json").send(JSON.stringify(activity));
    } catch (error) {
      next(error);
    }
  });
  return router;
}
