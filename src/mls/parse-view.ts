import { looksLikeMlsObject, typeStringsOf } from "./vocabulary.js";

type Json = Record<string, unknown>;

const AS_OBJECT = "https://www.w3.org/ns/activitystreams#Object";

/** A cheap look at the bytes before any parse: an MLS type name in a JSON string. */
const MLS_TYPE_TEXT = /"(?:[^"]*[#:])?(?:PrivateMessage|PublicMessage|Welcome|GroupInfo|KeyPackage)"/;

/**
 * The activity as Fedify should parse it when its object is an MLS object: Fedify's vocabulary
 * refuses an object whose only types are unknown to it ("Invalid activity.", 400, before any
 * listener), so the parse sees ActivityStreams' `Object` added to the object's types. Only the
 * parse: the bytes whose Digest and signature are checked, and the raw JSON the listener checks and
 * stores, are the body as received (inbox/implied-context.ts's RequestParsedAs carries it).
 * `parsed`: the body as the bridge already parsed it, if it did. Undefined when there is nothing
 * to change.
 */
export function mlsParseView(body: Uint8Array, parsed?: Json): Json | undefined {
  if (!MLS_TYPE_TEXT.test(Buffer.from(body).toString("latin1"))) return parsed;
  let activity: unknown = parsed;
  if (activity === undefined) {
    try {
      activity = JSON.parse(Buffer.from(body).toString("utf8"));
    } catch {
      return undefined;
    }
  }
  if (!isRecord(activity) || !isRecord(activity.object) || !looksLikeMlsObject(activity.object)) return parsed;
  const object = activity.object;
  return { ...activity, object: { ...object, type: [...typeStringsOf(object), AS_OBJECT] } };
}

function isRecord(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
