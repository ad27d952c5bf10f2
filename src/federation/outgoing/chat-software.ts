/**
 * Server software known to drop a `Create{ChatMessage}` without a word, by nodeinfo
 * `software.name` (lower case). A message to one of its users would show "delivered" and never
 * arrive, so the chat API refuses it (`recipient_cannot_receive_chats`). Every other server, and a
 * server whose software is unknown, gets the message, as Pleroma sends it: Fedify-based servers,
 * Mbin, Bonfire, Lemmy and honk take the type, and a refusal of the unknown would wrongly cut them off.
 *
 * Each entry is there because its inbox code, read at the time of writing, has no path for the type:
 * - mastodon, hometown (a Mastodon fork that reports its own name): `ActivityPub::Activity`
 *   handles a Create only for SUPPORTED_TYPES (Note, Question) and CONVERTED_TYPES (Image, Audio,
 *   Video, Article, Page, Event); Lemmy's ChatMessage PMs never arrived there (mastodon#16974).
 *   glitch-soc reports "mastodon".
 * - misskey and the forks that keep its ActivityPub code (sharkey, cherrypick; the Firefish line:
 *   calckey, firefish, iceshrimp): `validPost` in `core/activitypub/type.ts` (Note, Question,
 *   Article, Audio, Document, Image, Page, Video, Event) decides what a Create may carry. Misskey
 *   discusses federating its 2025 chats with ChatMessage (misskey#15703): remove it when it ships.
 *   Iceshrimp.NET is another code base ("iceshrimp.net") and is not listed.
 * - gotosocial: `ap.IsStatusable` (Article, Document, Image, Video, Note, Page, Event, Place,
 *   Profile, Question) gates a Create.
 * - akkoma: removed chats in 2022.08 ("purge chat and shout endpoints"); an incoming ChatMessage
 *   falls to the catch-all `{:error, :unsupported}` of its Transmogrifier.
 * - friendica: `Receiver::routeActivities` routes a Create only for CONTENT_TYPES (Note, Article,
 *   Video, Image, Event, Audio, Page, Question) and answers false for anything else.
 * Not listed, on purpose: lemmy (0.20 and 1.0 still accept ChatMessage, "for compatibility with
 * Lemmy 0.19 and earlier"), pixelfed (files any object addressed only to people as a direct
 * message, whatever its type), and software not read (PeerTube, WriteFreely, …): unknown is sent.
 */
export const CHAT_DROPPING_SOFTWARE: ReadonlySet<string> = new Set([
  "mastodon",
  "hometown",
  "misskey",
  "sharkey",
  "cherrypick",
  "calckey",
  "firefish",
  "iceshrimp",
  "gotosocial",
  "akkoma",
  "friendica",
]);

/** Whether the recorded software (`software.name`, optionally followed by a version) drops ChatMessage. */
export function dropsChatMessage(software: string | null): boolean {
  if (!software) return false;
  const [name] = software
    .trim()
    .toLowerCase()
    .split(/[\s/@]+/, 1);
  return CHAT_DROPPING_SOFTWARE.has(name);
}
