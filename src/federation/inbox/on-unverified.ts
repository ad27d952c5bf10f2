import type { RequestContext, UnverifiedActivityReason } from "@fedify/fedify";
import { type Activity, Delete } from "@fedify/vocab";
import { and, eq, isNotNull } from "drizzle-orm";
import { accounts } from "../../db/schema/index.js";
import { httpUrl, isJsonObject } from "../as-json.js";
import { type ContextData, type InboxDeps, isDomainBlocked, storableJson } from "./inbox-context.js";
import { storeInboundActivity } from "./store.js";

const refused = (reason: UnverifiedActivityReason) => Response.json({ error: "invalid_signature", reason: reason.type }, { status: 401 });

/**
 * A signature that cannot be verified gets 401 with Fedify's reason (noSignature,
 * invalidSignature, keyFetchError) — except the `Delete` of an actor by itself whose key, on the
 * actor's own origin, now answers 410 Gone: that is how a deleted Mastodon account says goodbye,
 * and the 410 is the proof. Stored (for an actor we know) and applied like a verified one.
 */
export function onUnverifiedActivity(deps: InboxDeps) {
  return async (ctx: RequestContext<ContextData>, activity: Activity, reason: UnverifiedActivityReason): Promise<Response> => {
    if (!(activity instanceof Delete) || reason.type !== "keyFetchError" || !("status" in reason.result) || reason.result.status !== 410) {
      return refused(reason);
    }
    const actor = activity.actorId;
    if (!actor || activity.objectId?.href !== actor.href || reason.keyId.origin !== actor.origin) return refused(reason);
    const raw = isJsonObject(ctx.data?.json) ? ctx.data.json : storableJson(JSON.parse(Buffer.from(ctx.data?.body ?? []).toString("utf8")));
    const id = isJsonObject(raw) ? httpUrl(raw.id) : undefined;
    if (!isJsonObject(raw) || !id || id.origin !== actor.origin) return refused(reason);
    if (await isDomainBlocked(deps, actor.href)) return Response.json({ error: "domain_blocked" }, { status: 403 });
    const [known] = await deps.db
      .select({ id: accounts.id })
      .from(accounts)
      .where(and(eq(accounts.uri, actor.href), isNotNull(accounts.domain)))
      .limit(1);
    if (known) await storeInboundActivity(deps, { activityUri: id.href, actorUri: actor.href, recipientId: null, payload: raw });
    return new Response(null, { status: 202 });
  };
}
