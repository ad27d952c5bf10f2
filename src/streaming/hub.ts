import { inArray } from "drizzle-orm";
import { accessTokens } from "../db/schema/index.js";
import type { Deps } from "../shared/deps.js";
import { isSessionEvent, type RenderableEvent, type SessionEvent, type StreamEvent } from "./events.js";
import { renderEvent } from "./render.js";

/**
 * The sockets of one web process, by account, and what each stream event means for them. An event
 * names an account and ids; it is rendered only when this process holds a socket of that account
 * (the JSON is per owner), once for all of that account's sockets, then framed per subscribed
 * stream. Events of one account are rendered one after the other, so frames leave in the order of
 * the events (a message's `delete` never overtakes its `pleroma:chat_update`). An event already
 * waiting for its turn is not queued twice: the later rendering shows the latest state anyway.
 * A new message is never merged with another: each is one `pleroma:chat_update`, as in Pleroma.
 * A revoked token or a deleted account closes its sockets at once (1000: Pleroma-FE does not
 * reconnect then; docs/decisions/0005-streaming-close-on-revocation.md).
 */

export const STREAMS = ["user", "user:pleroma_chat", "user:notification"] as const;
export type StreamName = (typeof STREAMS)[number];

export const isStreamName = (value: unknown): value is StreamName => STREAMS.includes(value as StreamName);

/** Mastodon's and Pleroma's streams for each kind of event. */
const CHAT_STREAMS: readonly StreamName[] = ["user", "user:pleroma_chat"];
const NOTIFICATION_STREAMS: readonly StreamName[] = ["user", "user:notification"];

/** Events of one account waiting to be rendered; beyond this, new ones are dropped (and logged). */
const MAX_PENDING_PER_ACCOUNT = 1_000;

export interface Subscriber {
  accountId: string;
  /** The access token row the socket signed in with. */
  tokenId: string;
  streams: Set<StreamName>;
  /** Sends one text frame (the socket layer enforces its own buffer cap). */
  send(frame: string): void;
  /** Ends the socket with a close frame. */
  close(code: number, reason: string): void;
}

/** Close code of a socket whose token or account is gone: a normal closure, so that clients do not come back. */
export const SESSION_ENDED_CLOSE_CODE = 1000;

type HubDeps = Pick<Deps, "db" | "config" | "logger">;
type Queue = { events: RenderableEvent[]; keys: Set<string> };

/** Events with the same key coalesce while waiting: they would render the same thing. */
function keyOf(event: RenderableEvent): string {
  switch (event.type) {
    case "chat":
      return `chat:${event.chat}`;
    case "notification":
      return `notification:${event.notification}`;
    case "mls_message":
      return `mls_message:${event.seq}`;
    default:
      return `${event.type}:${event.ref}`;
  }
}

export class StreamingHub {
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private readonly pending = new Map<string, Queue>();

  constructor(private readonly deps: HubDeps) {}

  /** Adds a signed-in socket; false when its account already holds `limit` here. */
  add(subscriber: Subscriber, limit = Number.POSITIVE_INFINITY): boolean {
    const set = this.subscribers.get(subscriber.accountId) ?? new Set();
    if (set.size >= limit) return false;
    this.subscribers.set(subscriber.accountId, set);
    set.add(subscriber);
    return true;
  }

  /** Sockets of one account held by this process. */
  countOf(accountId: string): number {
    return this.subscribers.get(accountId)?.size ?? 0;
  }

  remove(subscriber: Subscriber): void {
    const set = this.subscribers.get(subscriber.accountId);
    if (!set) return;
    set.delete(subscriber);
    if (set.size === 0) this.subscribers.delete(subscriber.accountId);
  }

  /** Sockets held by this process. */
  get size(): number {
    let n = 0;
    for (const set of this.subscribers.values()) n += set.size;
    return n;
  }

  /** An event from the listener: queued for its account when this process has a socket of it. */
  dispatch(event: StreamEvent): void {
    if (!this.subscribers.has(event.account)) return;
    if (isSessionEvent(event)) {
      this.endSessions(event);
      return;
    }
    const key = keyOf(event);
    let queue = this.pending.get(event.account);
    if (queue?.keys.has(key)) return;
    if (queue && queue.events.length >= MAX_PENDING_PER_ACCOUNT) {
      this.deps.logger.warn({ account: event.account, event: event.type }, "streaming: too many events waiting; event dropped");
      return;
    }
    if (queue) {
      queue.events.push(event);
      queue.keys.add(key);
      return;
    }
    queue = { events: [event], keys: new Set([key]) };
    this.pending.set(event.account, queue);
    void this.drain(event.account, queue);
  }

  private endSessions(event: SessionEvent): void {
    const reason = event.type === "account_gone" ? "account deleted" : "token revoked";
    for (const subscriber of [...(this.subscribers.get(event.account) ?? [])]) {
      if (event.type === "token_revoked" && subscriber.tokenId !== event.token) continue;
      this.remove(subscriber);
      subscriber.close(SESSION_ENDED_CLOSE_CODE, reason);
    }
    this.deps.logger.info({ account: event.account, event: event.type }, "streaming: sockets closed");
  }

  /**
   * Closes the sockets whose token is gone: after the LISTEN connection was away, a revocation may
   * have been announced while nobody listened.
   */
  async closeRevoked(): Promise<void> {
    const held = new Set<string>();
    for (const set of this.subscribers.values()) for (const subscriber of set) held.add(subscriber.tokenId);
    if (held.size === 0) return;
    const alive = await this.deps.db
      .select({ id: accessTokens.id })
      .from(accessTokens)
      .where(inArray(accessTokens.id, [...held]));
    const kept = new Set(alive.map((row) => row.id));
    for (const set of [...this.subscribers.values()]) {
      for (const subscriber of [...set]) {
        if (kept.has(subscriber.tokenId)) continue;
        this.remove(subscriber);
        subscriber.close(SESSION_ENDED_CLOSE_CODE, "token revoked");
      }
    }
  }

  private async drain(accountId: string, queue: Queue): Promise<void> {
    for (let event = queue.events.shift(); event; event = queue.events.shift()) {
      queue.keys.delete(keyOf(event));
      if (!this.subscribers.has(accountId)) continue;
      try {
        const frames = await renderEvent(this.deps.db, this.deps.config.publicUrl, event);
        // A new MLS object goes where a new chat message goes (`parley:mls_message` beside `pleroma:chat_update`).
        const streams = event.type === "notification" ? NOTIFICATION_STREAMS : CHAT_STREAMS;
        for (const frame of frames) this.send(accountId, streams, frame.event, frame.payload);
      } catch (error) {
        this.deps.logger.warn({ err: error, account: accountId, event: event.type }, "streaming: could not render an event");
      }
    }
    this.pending.delete(accountId);
  }

  private send(accountId: string, streams: readonly StreamName[], event: string, payload: string): void {
    // One frame per subscribed stream, as Mastodon sends them.
    const frames = new Map(streams.map((stream) => [stream, JSON.stringify({ stream: [stream], event, payload })]));
    for (const subscriber of this.subscribers.get(accountId) ?? []) {
      for (const [stream, frame] of frames) if (subscriber.streams.has(stream)) subscriber.send(frame);
    }
  }
}
