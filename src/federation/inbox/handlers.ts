import type { InboxListener, InboxListenerSetters } from "@fedify/fedify";
import { type Activity, Create, Delete, Undo, Update } from "@fedify/vocab";
import type { Json } from "../as-json.js";
import { type InboundActivityType, inboundTypeOf } from "./activity-types.js";
import type { ApplyHandler } from "./apply/context.js";
import { applyCreate } from "./apply/create.js";
import { applyDelete } from "./apply/delete.js";
import { applyUndo } from "./apply/undo.js";
import { applyUpdate } from "./apply/update.js";
import type { ContextData, InboxDeps } from "./inbox-context.js";
import { onCreate } from "./on-create.js";
import { onDelete } from "./on-delete.js";
import { onUndo } from "./on-undo.js";
import { onUpdate } from "./on-update.js";

/**
 * One entry per inbound activity type: the inbox listener that checks and stores it (on-*.ts) and
 * the handler that applies the stored row (apply/*.ts). federation.ts registers the listeners from
 * this map, the inbound worker picks the apply handler from it: a new type is a listener, an apply
 * module, its name in activity-types.ts and its entry here.
 */
/** A class of Fedify's vocabulary, as InboxListenerSetters.on takes it. */
// biome-ignore lint/suspicious/noExplicitAny: Fedify's own signature for an activity class
type ActivityClass<T extends Activity> = (new (...args: any[]) => T) & { typeId: URL };

export interface InboundActivity {
  /** Fedify's class of the activity (its listener is called for it and its subclasses). */
  vocab: ActivityClass<Activity>;
  /** Registers the listener on the inbox. */
  listen(inbox: InboxListenerSetters<ContextData>, deps: InboxDeps): void;
  apply: ApplyHandler;
  /** Its author is resolved (a fetch, outside the transaction) before it is applied. */
  resolvesAuthor: boolean;
}

function inbound<T extends Activity>(
  vocab: ActivityClass<T>,
  listener: (deps: InboxDeps) => InboxListener<ContextData, T>,
  apply: ApplyHandler,
  options: { resolvesAuthor?: boolean } = {},
): InboundActivity {
  return { vocab, listen: (inbox, deps) => void inbox.on(vocab, listener(deps)), apply, resolvesAuthor: options.resolvesAuthor ?? false };
}

export const INBOUND_ACTIVITIES: Record<InboundActivityType, InboundActivity> = {
  Create: inbound(Create, onCreate, applyCreate, { resolvesAuthor: true }),
  Update: inbound(Update, onUpdate, applyUpdate),
  Delete: inbound(Delete, onDelete, applyDelete),
  Undo: inbound(Undo, onUndo, applyUndo),
};

/** The entry an activity is handled by; undefined for a type the inbox does not store. */
export function inboundActivityOf(activity: Json): InboundActivity | undefined {
  const type = inboundTypeOf(activity);
  return type && INBOUND_ACTIVITIES[type];
}
