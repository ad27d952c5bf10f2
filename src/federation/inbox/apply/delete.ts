import { deleteRemoteActor, tombstoneRemoteMessage } from "../../../chats/remote-message.service.js";
import { idOf, sameUri } from "../../as-json.js";
import type { ApplyInput } from "./context.js";
import { ownMessage } from "./own-message.js";

/** `Delete` of a ChatMessage by its author (a tombstone), or of the actor itself (its account gone). */
export async function applyDelete({ tx, row, payload }: ApplyInput): Promise<string> {
  const objectUri = idOf(payload.object);
  if (sameUri(objectUri, row.actorUri)) return (await deleteRemoteActor(tx, row.actorUri)) ? "actor deleted" : "unknown actor";
  const message = await ownMessage(tx, row, objectUri);
  if (!message) return "unknown message";
  return (await tombstoneRemoteMessage(tx, message)) ? "deleted" : "already deleted";
}
