import type { Activity } from "@fedify/vocab";
import { actorOf, admitVerifiedSender, type InboxCtx, type InboxDeps } from "./inbox-context.js";

/** Any other well-signed activity (Follow, Like, Create{Note} …): 202, nothing stored. */
export function onOtherActivity(deps: InboxDeps) {
  return async (ctx: InboxCtx, activity: Activity): Promise<void> => {
    await admitVerifiedSender(deps, ctx, actorOf(activity));
  };
}
