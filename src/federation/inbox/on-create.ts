import type { Create } from "@fedify/vocab";
import { checkInboundMlsCreate, isMlsObjectStored } from "../../mls/inbound.js";
import { looksLikeMlsObject } from "../../mls/vocabulary.js";
import { isJsonObject, type Json } from "../as-json.js";
import { checkCreateChatMessage, looksLikeChatMessage } from "./chat-message-rules.js";
import {
  activityIdOf,
  actorOf,
  admitVerifiedSender,
  findLocalActor,
  type InboxCtx,
  type InboxDeps,
  inboxOwnerId,
  rawActivity,
  refuse,
} from "./inbox-context.js";
import { storeInboundActivity, whatIsKnownOfCreate } from "./store.js";

/**
 * `Create{ChatMessage}`: checked against every ChatMessage rule of docs/federation.md (422 with the reason code), then
 * written to inbox_activities before the 202 and applied by the inbound worker. `Create` of an MLS
 * object: the same path, with the MLS checks (src/mls/inbound.ts; 422 `invalid_mls_object`).
 * Other objects (a Note, say) are acknowledged and ignored.
 */
export function onCreate(deps: InboxDeps) {
  return async (ctx: InboxCtx, create: Create): Promise<void> => {
    const actorUri = actorOf(create);
    await admitVerifiedSender(deps, ctx, actorUri);
    const raw = await rawActivity(ctx, create);
    if (isJsonObject(raw.object) && looksLikeMlsObject(raw.object)) return onCreateMls(deps, ctx, raw, actorUri);
    if (!looksLikeChatMessage(raw.object)) return;
    const object = raw.object;
    const activityUri = activityIdOf(ctx, raw, actorUri);
    const result = await checkCreateChatMessage({
      activity: raw,
      object,
      actorUri,
      remoteMessageLimit: deps.config.remoteMessageLimit,
      allowPrivateAddress: deps.config.allowPrivateAddress,
      findLocalRecipient: (uri) => findLocalActor(deps, uri, ctx.data),
    });
    if (!result.ok) {
      deps.logger.info({ activity: activityUri, actor: actorUri, reason: result.reason }, "inbox: invalid ChatMessage");
      refuse(ctx, 422, { error: "invalid_chat_message", reason: result.reason });
    }
    const seen = await whatIsKnownOfCreate(deps.db, {
      activityUri,
      objectUri: new URL(object.id as string).href,
      actorUri,
      recipientId: result.recipient.id,
    });
    // Seen already (this activity through any inbox, or its object in another activity): 202, nothing new.
    if (seen.activityStored || seen.objectStored) return;
    // The recipient blocks the sender: acknowledged as usual (a block is never revealed), dropped.
    if (seen.senderBlocked) {
      deps.logger.info({ activity: activityUri, actor: actorUri, reason: "blocked" }, "inbox: ChatMessage dropped");
      return;
    }
    await storeInboundActivity(deps, { activityUri, actorUri, recipientId: await inboxOwnerId(deps, ctx), payload: raw });
  };
}

/** `Create` of an MLS object: checked, then stored for the worker unless seen already (docs/federation.md). */
async function onCreateMls(deps: InboxDeps, ctx: InboxCtx, raw: Json, actorUri: string): Promise<void> {
  const activityUri = activityIdOf(ctx, raw, actorUri);
  const verdict = await checkInboundMlsCreate(deps.db, raw, actorUri);
  if (verdict.status === "ignore") {
    deps.logger.info({ activity: activityUri, actor: actorUri, reason: verdict.why }, "inbox: MLS object ignored");
    return;
  }
  if (verdict.status === "refuse") {
    const { reason, field, detail } = verdict;
    deps.logger.info({ activity: activityUri, actor: actorUri, reason, field }, "inbox: invalid MLS object");
    refuse(ctx, 422, { error: "invalid_mls_object", reason, field, ...(detail === undefined ? {} : { detail }) });
  }
  // Seen already: the activity (storeInboundActivity keeps one row per id) or its object.
  if (await isMlsObjectStored(deps.db, verdict.objectUri)) return;
  await storeInboundActivity(deps, { activityUri, actorUri, recipientId: await inboxOwnerId(deps, ctx), payload: raw });
}
