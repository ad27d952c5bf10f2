import { verifyRequestDetailed } from "@fedify/fedify";
import { httpUrl, idOf, isJsonObject, typesOf } from "../as-json.js";
import type { ParleyFederation } from "../federation.js";
import { checkCreateChatMessage, looksLikeChatMessage } from "./chat-message-rules.js";
import { findLocalActor, type InboxDeps, isDomainBlocked, type RequestData, storableJson, type Verdict } from "./inbox-context.js";

/**
 * Fedify refuses to parse some activities at all ("Invalid activity.", 400) before any listener
 * or even the signature check runs: a `published` that is not a date is one. For a
 * `Create{ChatMessage}` the contract is 401 when unsigned and 422 `missing_published` (or the
 * first broken rule) when signed, so the bridge asks here before answering 400: the signature is
 * verified as the inbox would, then the same rules run. Undefined keeps Fedify's 400.
 */
export function invalidActivityExplainer(deps: InboxDeps, federation: ParleyFederation) {
  return async (request: Request, data: RequestData): Promise<Verdict | undefined> => {
    let raw: unknown;
    try {
      raw = storableJson(JSON.parse(Buffer.from(data.body ?? new Uint8Array()).toString("utf8")));
    } catch {
      return undefined;
    }
    if (!isJsonObject(raw) || !typesOf(raw).includes("Create") || !looksLikeChatMessage(raw.object)) return undefined;
    const ctx = federation.createContext(request, data);
    const verification = await verifyRequestDetailed(request, {
      documentLoader: ctx.documentLoader,
      contextLoader: ctx.contextLoader,
      timeWindow: { hours: 1 },
    });
    if (!verification.verified) return { status: 401, body: { error: "invalid_signature", reason: verification.reason.type } };
    const actorUri = httpUrl(idOf(raw.actor))?.href;
    if (!actorUri || verification.key.ownerId?.href !== actorUri) {
      return { status: 401, body: { error: "invalid_signature", reason: "actor_key_mismatch" } };
    }
    if (await isDomainBlocked(deps, actorUri)) return { status: 403, body: { error: "domain_blocked" } };
    const result = await checkCreateChatMessage({
      activity: raw,
      object: raw.object,
      actorUri,
      remoteMessageLimit: deps.config.remoteMessageLimit,
      allowPrivateAddress: deps.config.allowPrivateAddress,
      findLocalRecipient: (uri) => findLocalActor(deps, uri),
    });
    if (result.ok) return undefined;
    deps.logger.info({ activity: raw.id, actor: actorUri, reason: result.reason }, "inbox: invalid ChatMessage");
    return { status: 422, body: { error: "invalid_chat_message", reason: result.reason } };
  };
}
