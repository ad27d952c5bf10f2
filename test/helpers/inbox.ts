import { randomUUID } from "node:crypto";
import type { TestParley } from "./parley.js";
import type { RemoteActor } from "./remote.js";

/**
 * Inbound payloads as real servers send them (Pleroma, Lemmy, honk), and
 * probes of what an instance stored.
 */

export type Json = Record<string, any>;

const AS = "https://www.w3.org/ns/activitystreams";

/** The origin of a remote actor (its ids live there). */
const originOf = (actor: RemoteActor) => new URL(actor.id).origin;

/** Pleroma 2.x: litepub context, `actor` and `attributedTo` on the object, a single attachment object. */
export function pleromaChatMessage(actor: RemoteActor, to: string, object: Json = {}, activity: Json = {}): Json {
  const origin = originOf(actor);
  return {
    "@context": [AS, `${origin}/schemas/litepub-0.1.jsonld`, { "@language": "und" }],
    id: `${origin}/activities/${randomUUID()}`,
    type: "Create",
    actor: actor.id,
    to: [to],
    cc: [],
    object: {
      id: `${origin}/objects/${randomUUID()}`,
      type: "ChatMessage",
      actor: actor.id,
      attributedTo: actor.id,
      to: [to],
      content: "hello from pleroma",
      published: new Date().toISOString(),
      conversation: null,
      ...object,
    },
    ...activity,
  };
}

/** Lemmy 0.19: Lemmy's context, HTML content with a markdown `source`, µs timestamps, no @context on the object. */
export function lemmyChatMessage(actor: RemoteActor, to: string, object: Json = {}): Json {
  const origin = originOf(actor);
  return {
    "@context": ["https://join-lemmy.org/context.json", AS],
    id: `${origin}/activities/create/${randomUUID()}`,
    type: "Create",
    actor: actor.id,
    to: [to],
    object: {
      type: "ChatMessage",
      id: `${origin}/private_message/${Math.floor(Math.random() * 1e9)}`,
      attributedTo: actor.id,
      to: [to],
      content: "<p>hello from <strong>lemmy</strong></p>\n",
      mediaType: "text/html",
      source: { content: "hello from **lemmy**", mediaType: "text/markdown" },
      published: new Date().toISOString().replace(/\.(\d{3})Z$/, ".$1456+00:00"),
      ...object,
    },
  };
}

/** honk's "chonk": AS-only context as a string, empty content, one attachment with a string `url`. */
export function honkChatMessage(actor: RemoteActor, to: string, object: Json = {}): Json {
  const origin = originOf(actor);
  const published = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  return {
    "@context": AS,
    id: `${origin}/u/${actor.username}/honk/${randomUUID()}`,
    type: "Create",
    actor: actor.id,
    published,
    to: [to],
    object: {
      id: `${origin}/u/${actor.username}/chonk/${randomUUID()}`,
      type: "ChatMessage",
      attributedTo: actor.id,
      published,
      to: [to],
      content: "",
      attachment: [{ type: "Document", mediaType: "image/jpeg", name: "tree.jpg", summary: "tree.jpg", url: `${origin}/d/tree.jpg` }],
      ...object,
    },
  };
}

export function deleteOf(actor: RemoteActor, objectId: string, to: string): Json {
  return {
    "@context": ["https://join-lemmy.org/context.json", AS],
    id: `${originOf(actor)}/activities/delete/${randomUUID()}`,
    type: "Delete",
    actor: actor.id,
    to: [to],
    object: objectId,
  };
}

export function undoOf(actor: RemoteActor, activity: Json, to: string): Json {
  const { "@context": _context, ...inner } = activity;
  return {
    "@context": ["https://join-lemmy.org/context.json", AS],
    id: `${originOf(actor)}/activities/undo/${randomUUID()}`,
    type: "Undo",
    actor: actor.id,
    to: [to],
    object: inner,
  };
}

export function updateOf(actor: RemoteActor, object: Json, to: string): Json {
  return {
    "@context": ["https://join-lemmy.org/context.json", AS],
    id: `${originOf(actor)}/activities/update/${randomUUID()}`,
    type: "Update",
    actor: actor.id,
    to: [to],
    object,
  };
}

/** Rows in the tables an inbox POST may write. */
export async function stored(instance: TestParley): Promise<{ inbox: number; messages: number }> {
  const sql = instance.parley.deps.db.$client;
  const [row] = await sql`SELECT (SELECT count(*) FROM inbox_activities)::int AS inbox, (SELECT count(*) FROM messages)::int AS messages`;
  return { inbox: row.inbox, messages: row.messages };
}

/** Polls `probe` until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined | false>, timeoutMs = 5_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until the inbound worker applied (or failed) every accepted activity. */
export async function settled(instance: TestParley, timeoutMs = 5_000): Promise<void> {
  const sql = instance.parley.deps.db.$client;
  await eventually(
    async () => (await sql`SELECT count(*)::int AS n FROM inbox_activities WHERE status = 'pending'`)[0].n === 0,
    timeoutMs,
    "pending inbox activities to be applied",
  );
}
