import type { AccountRow } from "../../../accounts/account.view.js";
import type { Transaction } from "../../../db/database.js";
import type { inboxActivities } from "../../../db/schema/index.js";
import type { LinkCardJob } from "../../../link-cards/link-cards.js";
import type { Deps } from "../../../shared/deps.js";
import type { Json } from "../../as-json.js";

/** What applying inbox activities needs of the process. */
export type InboundDeps = Pick<Deps, "db" | "config" | "logger" | "queues">;

/** An accepted inbox activity: an inbox_activities row. */
export type InboxRow = typeof inboxActivities.$inferSelect;

/** One activity to apply, inside the transaction that marks its row applied. */
export interface ApplyInput {
  deps: InboundDeps;
  tx: Transaction;
  row: InboxRow;
  /** The activity as received (row.payload). */
  payload: Json;
  /** The resolved author, for the types whose entry says `resolvesAuthor` (a Create). */
  author: AccountRow | undefined;
  /** Preview cards to request once the transaction committed. */
  links: LinkCardJob[];
}

/** Applies one activity; returns a short result for the log ("created", "unknown message" …). */
export type ApplyHandler = (input: ApplyInput) => Promise<string>;

/**
 * An activity no retry will apply (its author is gone, its date unreadable …): its row is marked
 * failed at once, and the inbound processor tells BullMQ not to retry the job.
 */
export class PermanentApplyError extends Error {
  override name = "PermanentApplyError";
}
