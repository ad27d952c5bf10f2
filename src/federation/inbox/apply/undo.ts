import { eq } from "drizzle-orm";
import { restoreRemoteMessage } from "../../../chats/remote-message.service.js";
import { inboxActivities } from "../../../db/schema/index.js";
import { httpUrl, idOf, isJsonObject, typesOf } from "../../as-json.js";
import type { ApplyInput } from "./context.js";
import { ownMessage } from "./own-message.js";

/** `Undo{Delete}` of a ChatMessage by its author (Lemmy restores a deleted message): the message back. */
export async function applyUndo({ tx, row, payload }: ApplyInput): Promise<string> {
  let undone = payload.object;
  if (!isJsonObject(undone) || undone.type === undefined) {
    // Named by id: the Delete we stored.
    const id = httpUrl(idOf(undone))?.href;
    const [stored] = id
      ? await tx.select({ payload: inboxActivities.payload }).from(inboxActivities).where(eq(inboxActivities.activityUri, id))
      : [];
    undone = stored?.payload;
  }
  if (!isJsonObject(undone) || !typesOf(undone).includes("Delete")) return "not an Undo{Delete}";
  const message = await ownMessage(tx, row, idOf(undone.object));
  if (!message) return "unknown message";
  return (await restoreRemoteMessage(tx, message)) ? "restored" : "not deleted";
}
