import { type Json, typesOf } from "../as-json.js";

/**
 * The activity types the inbox stores and the inbound worker applies, in the order an activity is
 * taken for one of them when its `type` lists several. Each has its listener and its apply handler
 * in handlers.ts (a Record over this list: the compiler keeps the two in step). Pure, so the unit
 * suite can check the choice.
 */
export const INBOUND_ACTIVITY_TYPES = ["Create", "Update", "Delete", "Undo"] as const;

export type InboundActivityType = (typeof INBOUND_ACTIVITY_TYPES)[number];

/** Which inbound type an activity is handled as, if any. */
export function inboundTypeOf(activity: Json): InboundActivityType | undefined {
  const types = typesOf(activity);
  return INBOUND_ACTIVITY_TYPES.find((type) => types.includes(type));
}
