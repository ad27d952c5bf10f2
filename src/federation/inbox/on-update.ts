import type { Update } from "@fedify/vocab";
import { checkUpdatedChatMessage, looksLikeChatMessage } from "./chat-message-rules.js";
import {
  activityIdOf,
  actorOf,
  admitVerifiedSender,
  type InboxCtx,
  type InboxDeps,
  inboxOwnerId,
  rawActivity,
  refuse,
} from "./inbox-context.js";
import { isOwnChatMessage, storeInboundActivity } from "./store.js";

/**
 * `Update{ChatMessage}` by its author (Lemmy's edits): the new version must keep the object rules
 * (422 with the reason code otherwise); stored and applied by the inbound worker. An Update of
 * anything else, or of a message we do not have, is acknowledged and ignored.
 */
export function onUpdate(deps: InboxDeps) {
  return async (ctx: InboxCtx, activity: Update): Promise<void> => {
    const actorUri = actorOf(activity);
    await admitVerifiedSender(deps, ctx, actorUri);
    const raw = await rawActivity(ctx, activity);
    if (!looksLikeChatMessage(raw.object)) return;
    const object = raw.object;
    if (typeof object.id !== "string" || !(await isOwnChatMessage(deps.db, actorUri, object.id))) return;
    const reason = checkUpdatedChatMessage(object, actorUri, deps.config);
    if (reason) {
      deps.logger.info({ activity: raw.id, actor: actorUri, reason }, "inbox: invalid ChatMessage edit");
      refuse(ctx, 422, { error: "invalid_chat_message", reason });
    }
    const activityUri = activityIdOf(ctx, raw, actorUri);
    await storeInboundActivity(deps, { activityUri, actorUri, recipientId: await inboxOwnerId(deps, ctx), payload: raw });
  };
}
