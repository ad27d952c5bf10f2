import { showChat } from "../chats/chat.view.js";
import { showNotification } from "../notifications/notification.view.js";
import type { Deps } from "../shared/deps.js";
import type { StreamEvent } from "./events.js";

/**
 * The sockets of one web process, by account, and what each stream event means for them. An event
 * names an account and an id; it is rendered only when this process holds a socket of that
 * account (the Chat JSON is per owner: `showChat` for that owner, one query), once for all of
 * that account's sockets, then framed per subscribed stream. Events of one account are rendered
 * one after the other, so frames leave in the order of the events; an event already waiting for
 * its turn is not queued twice (the later rendering shows the latest state anyway).
 */

export const STREAMS = ["user", "user:pleroma_chat", "user:notification"] as const;
export type StreamName = (typeof STREAMS)[number];

export const isStreamName = (value: unknown): value is StreamName => STREAMS.includes(value as StreamName);

/** Mastodon's and Pleroma's stream names for each kind of event. */
const ROUTES = {
  chat: { event: "pleroma:chat_update", streams: ["user", "user:pleroma_chat"] },
  notification: { event: "notification", streams: ["user", "user:notification"] },
} as const satisfies Record<StreamEvent["type"], { event: string; streams: readonly StreamName[] }>;

/** Events of one account waiting to be rendered; beyond this, new ones are dropped (and logged). */
const MAX_PENDING_PER_ACCOUNT = 1_000;

export interface Subscriber {
  accountId: string;
  streams: Set<StreamName>;
  /** Sends one text frame (the socket layer enforces its own buffer cap). */
  send(frame: string): void;
}

type HubDeps = Pick<Deps, "db" | "config" | "logger">;

export class StreamingHub {
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private readonly pending = new Map<string, { events: StreamEvent[]; keys: Set<string> }>();

  constructor(private readonly deps: HubDeps) {}

  add(subscriber: Subscriber): void {
    let set = this.subscribers.get(subscriber.accountId);
    if (!set) this.subscribers.set(subscriber.accountId, (set = new Set()));
    set.add(subscriber);
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
    const key = event.type === "chat" ? `chat:${event.chat}` : `notification:${event.notification}`;
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

  private async drain(accountId: string, queue: { events: StreamEvent[]; keys: Set<string> }): Promise<void> {
    for (let event = queue.events.shift(); event; event = queue.events.shift()) {
      queue.keys.delete(event.type === "chat" ? `chat:${event.chat}` : `notification:${event.notification}`);
      if (!this.subscribers.has(accountId)) continue;
      try {
        const payload = await this.render(event);
        if (payload !== undefined) this.send(accountId, event.type, payload);
      } catch (error) {
        this.deps.logger.warn({ err: error, account: accountId, event: event.type }, "streaming: could not render an event");
      }
    }
    this.pending.delete(accountId);
  }

  /** The payload of an event (a JSON string, as Mastodon's streaming API has it), or undefined when there is nothing to show. */
  private async render(event: StreamEvent): Promise<string | undefined> {
    const { db, config } = this.deps;
    if (event.type === "chat") {
      const chat = await showChat(db, event.account, event.chat, config.publicUrl);
      return chat && JSON.stringify(chat);
    }
    const notification = await showNotification(db, event.account, event.notification, config.publicUrl);
    // Muted since it was created: not streamed, as a muted sender's new ones are not.
    if (!notification || notification.pleroma.is_muted) return undefined;
    return JSON.stringify(notification);
  }

  private send(accountId: string, type: StreamEvent["type"], payload: string): void {
    const route = ROUTES[type];
    // One frame per subscribed stream, as Mastodon sends them.
    const frames = new Map(route.streams.map((stream) => [stream, JSON.stringify({ stream: [stream], event: route.event, payload })]));
    for (const subscriber of this.subscribers.get(accountId) ?? []) {
      for (const [stream, frame] of frames) if (subscriber.streams.has(stream)) subscriber.send(frame);
    }
  }
}
