import type { Create } from "@fedify/vocab";
import { eq } from "drizzle-orm";
import { findMessageByUri } from "../../chats/remote-message.service.js";
import { isBlocked } from "../../chats/chat.view.js";
import { accounts } from "../../db/schema/index.js";
import { checkCreateChatMessage, looksLikeChatMessage } from "./chat-message-rules.js";
import {
  actorOf,
  activityIdOf,
  findLocalActor,
  type InboxCtx,
  type InboxDeps,
  inboxOwnerId,
  rawActivity,
  refuse,
  admitVerifiedSender,
} from "./inbox-context.js";
import { isActivityStored, storeInboundActivity } from "./store.js";

/**
 * `Create{ChatMessage}`: checked against every rule of SPEC §4.2 (422 with the reason code), then
 * written to inbox_activities before the 202 and applied by the inbound worker. Other objects
 * (a Note, say) are acknowledged and ignored.
 */
export function onCreate(deps: InboxDeps) {
  return async (ctx: InboxCtx, create: Create): Promise<void> => {
    const actorUri = actorOf(create);
    await admitVerifiedSender(deps, ctx, actorUri);
    const raw = await rawActivity(ctx, create);
    if (!looksLikeChatMessage(raw.object)) return;
    const object = raw.object;
    const activityUri = activityIdOf(ctx, raw, actorUri);
    // Seen already, through any inbox: 202 and nothing new.
    if (await isActivityStored(deps.db, activityUri)) return;
    const result = await checkCreateChatMessage({
      activity: raw,
      object,
      actorUri,
      remoteMessageLimit: deps.config.remoteMessageLimit,
      findLocalRecipient: (uri) => findLocalActor(deps, uri),
    });
    if (!result.ok) {
      deps.logger.info({ activity: activityUri, actor: actorUri, reason: result.reason }, "inbox: invalid ChatMessage");
      refuse(ctx, 422, { error: "invalid_chat_message", reason: result.reason });
    }
    // The same object in another activity: already there.
    if (await findMessageByUri(deps.db, new URL(object.id as string).href)) return;
    // The recipient blocks the sender: acknowledged as usual (a block is never revealed), dropped.
    const [sender] = await deps.db.select({ id: accounts.id }).from(accounts).where(eq(accounts.uri, actorUri)).limit(1);
    if (sender && (await isBlocked(deps.db, result.recipient.id, sender.id))) {
      deps.logger.info({ activity: activityUri, actor: actorUri, reason: "blocked" }, "inbox: ChatMessage dropped");
      return;
    }
    await storeInboundActivity(deps, { activityUri, actorUri, recipientId: await inboxOwnerId(deps, ctx), payload: raw });
  };
}
