import { findMessageByUri } from "../../../chats/remote-message.service.js";
import type { Transaction } from "../../../db/database.js";
import { httpUrl, sameUri } from "../../as-json.js";
import { hasPendingCreate } from "../store.js";
import type { InboxRow } from "./context.js";

/** A Delete/Update/Undo whose Create is still pending: retried until the Create is applied. */
export class WaitingForCreate extends Error {}

/** The message an activity of `row.actorUri` targets, when that actor wrote it. */
export async function ownMessage(tx: Transaction, row: InboxRow, objectUri: string | undefined) {
  const url = httpUrl(objectUri);
  if (!url) return undefined;
  const found = await findMessageByUri(tx, url.href);
  if (found) return !found.message.local && sameUri(found.authorUri, row.actorUri) ? found.message : undefined;
  // Its Create is accepted but not applied yet (another job, maybe retrying): wait for it.
  if (await hasPendingCreate(tx, row.actorUri, objectUri!)) throw new WaitingForCreate(`the Create of ${objectUri} is not applied yet`);
  return undefined;
}
