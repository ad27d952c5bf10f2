import type { Delete } from "@fedify/vocab";
import { and, eq, isNotNull } from "drizzle-orm";
import { accounts } from "../../db/schema/index.js";
import { idOf, sameUri } from "../as-json.js";
import { activityIdOf, actorOf, admitVerifiedSender, type InboxCtx, type InboxDeps, inboxOwnerId, rawActivity } from "./inbox-context.js";
import { isOwnChatMessage, storeInboundActivity } from "./store.js";

/**
 * `Delete` of a ChatMessage by its author, or of the actor itself: stored and applied by the
 * inbound worker. A Delete of anything else (a status, an actor we never saw) is acknowledged and
 * ignored: Mastodon sends actor Deletes to every inbox it knows.
 */
export function onDelete(deps: InboxDeps) {
  return async (ctx: InboxCtx, activity: Delete): Promise<void> => {
    const actorUri = actorOf(activity);
    await admitVerifiedSender(deps, ctx, actorUri);
    const raw = await rawActivity(ctx, activity);
    const objectUri = idOf(raw.object);
    if (!objectUri) return;
    if (sameUri(objectUri, actorUri)) {
      const [known] = await deps.db
        .select({ id: accounts.id })
        .from(accounts)
        .where(and(eq(accounts.uri, actorUri), isNotNull(accounts.domain)))
        .limit(1);
      if (!known) return;
    } else if (!(await isOwnChatMessage(deps.db, actorUri, objectUri))) {
      return;
    }
    const activityUri = activityIdOf(ctx, raw, actorUri);
    await storeInboundActivity(deps, { activityUri, actorUri, recipientId: await inboxOwnerId(deps, ctx), payload: raw });
  };
}
