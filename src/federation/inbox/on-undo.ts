import type { Undo } from "@fedify/vocab";
import { eq } from "drizzle-orm";
import { inboxActivities } from "../../db/schema/index.js";
import { httpUrl, idOf, isJsonObject, type Json, sameUri, typesOf } from "../as-json.js";
import { activityIdOf, actorOf, admitVerifiedSender, type InboxCtx, type InboxDeps, inboxOwnerId, rawActivity } from "./inbox-context.js";
import { isOwnChatMessage, storeInboundActivity } from "./store.js";

/**
 * `Undo{Delete}` of a ChatMessage by its author (Lemmy restores a deleted private message): stored
 * and applied by the inbound worker. The Delete may be embedded (Lemmy) or named by its id (then
 * it is the one we stored). Any other Undo is acknowledged and ignored.
 */
export function onUndo(deps: InboxDeps) {
  return async (ctx: InboxCtx, activity: Undo): Promise<void> => {
    const actorUri = actorOf(activity);
    await admitVerifiedSender(deps, ctx, actorUri);
    const raw = await rawActivity(ctx, activity);
    const undone = await undoneActivity(deps, raw.object);
    if (!undone || !typesOf(undone).includes("Delete")) return;
    if (undone.actor !== undefined && !sameUri(idOf(undone.actor), actorUri)) return;
    const objectUri = idOf(undone.object);
    if (!objectUri || !(await isOwnChatMessage(deps.db, actorUri, objectUri))) return;
    const activityUri = activityIdOf(ctx, raw, actorUri);
    await storeInboundActivity(deps, { activityUri, actorUri, recipientId: await inboxOwnerId(deps, ctx), payload: raw });
  };
}

/** The undone activity: embedded, or one we stored under that id. */
async function undoneActivity(deps: InboxDeps, object: unknown): Promise<Json | undefined> {
  if (isJsonObject(object) && object.type !== undefined) return object;
  const id = httpUrl(idOf(object))?.href;
  if (!id) return undefined;
  const [row] = await deps.db
    .select({ payload: inboxActivities.payload })
    .from(inboxActivities)
    .where(eq(inboxActivities.activityUri, id))
    .limit(1);
  return isJsonObject(row?.payload) ? row.payload : undefined;
}
