import { WebSocket } from "ws";
import type { AccountRow } from "../accounts/account.view.js";
import type { Logger } from "../shared/logger.js";
import { isStreamName, type StreamingHub, type StreamName, type Subscriber } from "./hub.js";

/**
 * One socket's conversation with its client. A socket opened with a token is signed in from the
 * start; one opened without (Pleroma-FE since October 2024) can only send
 * `{"type":"pleroma:authenticate","token":…}` until it is, and is closed when it has not within
 * `authTimeoutMs`. Then `subscribe`/`unsubscribe` choose its streams. Every client message gets
 * Pleroma's `pleroma:respond` answer (`success`, `ignored` or `error` with Pleroma's error codes),
 * and messages are handled one at a time, in order (a subscribe sent right after an authenticate
 * is handled once the authentication is known).
 */

/** Who a socket is signed in as: the account, and the token row it signed in with. */
export interface SignedIn {
  account: AccountRow;
  tokenId: string;
}

export interface SessionOptions {
  hub: StreamingHub;
  log: Logger;
  /** Who a token signs in; undefined for an unknown token or a deleted account. Throws when the database is away. */
  sessionOf(token: string): Promise<SignedIn | undefined>;
  maxBufferedBytes: number;
  authTimeoutMs: number;
  /** STREAMING_MAX_PER_ACCOUNT: sockets one account may hold in this process. */
  maxPerAccount: number;
}

/** Close code and reasons of sockets that never authenticated (1008: policy violation). */
export const UNAUTHENTICATED_CLOSE_CODE = 1008;
/** Close reason of a socket past STREAMING_MAX_PER_ACCOUNT (a policy violation too, worth retrying later). */
export const TOO_MANY_SOCKETS = "too many connections for this account";
/** Failed `pleroma:authenticate` messages a socket may send before it is closed. */
const MAX_FAILED_AUTHENTICATIONS = 5;

/** `pleroma:respond`: Pleroma's answer to a client message (its payload a JSON string, like every payload). */
export function respond(type: string, result: "success" | "ignored" | "error", error?: string): string {
  return JSON.stringify({ event: "pleroma:respond", payload: JSON.stringify({ type, result, ...(error ? { error } : {}) }) });
}

export function startSession(ws: WebSocket, signedIn: SignedIn | undefined, streams: StreamName[], options: SessionOptions): void {
  const { hub, log, maxBufferedBytes, authTimeoutMs, maxPerAccount } = options;
  let subscriber: Subscriber | undefined;
  let failures = 0;
  let authTimer: NodeJS.Timeout | undefined;

  const send = (frame: string) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount + Buffer.byteLength(frame) > maxBufferedBytes) {
      // A client that does not read would make this process buffer without end.
      log.warn({ account: subscriber?.accountId, buffered: ws.bufferedAmount }, "streaming: slow client disconnected");
      ws.terminate();
      return;
    }
    ws.send(frame);
  };

  const close = (code: number, reason: string) => ws.close(code, reason);

  /** False when the account already holds its share of sockets here: the socket is then closed. */
  const signIn = ({ account, tokenId }: SignedIn): boolean => {
    clearTimeout(authTimer);
    const candidate: Subscriber = { accountId: account.id, tokenId, streams: new Set(streams), send, close };
    if (!hub.add(candidate, maxPerAccount)) {
      log.info({ account: account.id, limit: maxPerAccount }, "streaming: socket refused, too many for the account");
      ws.close(UNAUTHENTICATED_CLOSE_CODE, TOO_MANY_SOCKETS);
      return false;
    }
    subscriber = candidate;
    log.debug({ account: account.id, streams }, "streaming: signed in");
    return true;
  };

  if (signedIn) signIn(signedIn);
  else {
    authTimer = setTimeout(() => {
      log.info({ afterMs: authTimeoutMs }, "streaming: socket closed, not authenticated in time");
      ws.close(UNAUTHENTICATED_CLOSE_CODE, "authentication timeout");
    }, authTimeoutMs);
    authTimer.unref();
  }

  const authenticate = async (token: unknown) => {
    const type = "pleroma:authenticate";
    let who: SignedIn | undefined;
    try {
      who = typeof token === "string" && token !== "" && token.length <= 1_024 ? await options.sessionOf(token) : undefined;
    } catch (error) {
      log.warn({ err: error }, "streaming: token check failed");
      return send(respond(type, "error", "unavailable"));
    }
    if (subscriber) {
      // Pleroma refuses any second authentication; the same account's token again is harmless.
      return send(who?.account.id === subscriber.accountId ? respond(type, "success") : respond(type, "error", "already_authenticated"));
    }
    if (!who) {
      failures++;
      send(respond(type, "error", "unauthorized"));
      if (failures >= MAX_FAILED_AUTHENTICATIONS) ws.close(UNAUTHENTICATED_CLOSE_CODE, "too many authentication attempts");
      return;
    }
    if (ws.readyState !== WebSocket.OPEN) return;
    // The answer first, so that the client can tell why the close follows.
    if (hub.countOf(who.account.id) >= maxPerAccount) send(respond(type, "error", "too_many_connections"));
    if (signIn(who)) send(respond(type, "success"));
  };

  const subscription = (type: "subscribe" | "unsubscribe", stream: unknown) => {
    if (!isStreamName(stream)) return send(respond(type, "error", "bad_topic"));
    // Every stream is an account's: none before authenticating (Pleroma's answer for a user stream).
    if (!subscriber) return send(respond(type, "error", "unauthorized"));
    const has = subscriber.streams.has(stream);
    if (type === "subscribe" ? has : !has) return send(respond(type, "ignored"));
    if (type === "subscribe") subscriber.streams.add(stream);
    else subscriber.streams.delete(stream);
    send(respond(type, "success"));
  };

  const handle = async (text: string | undefined) => {
    let parsed: unknown;
    try {
      parsed = text === undefined ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const message = (typeof parsed === "object" && parsed !== null ? parsed : {}) as { type?: unknown; stream?: unknown; token?: unknown };
    const type = typeof message.type === "string" ? message.type.slice(0, 64) : "unknown";
    if (type === "pleroma:authenticate") return authenticate(message.token);
    if (type === "subscribe" || type === "unsubscribe") return subscription(type, message.stream);
    // Pleroma stays silent here; an answer tells a client what it got wrong.
    send(respond(type, "error", "bad_request"));
  };

  let queue = Promise.resolve();
  ws.on("message", (data, isBinary) => {
    const text = isBinary ? undefined : data.toString();
    queue = queue
      .then(() => handle(text))
      .catch((error: unknown) => log.warn({ err: error }, "streaming: could not handle a client message"));
  });
  ws.on("close", () => {
    clearTimeout(authTimer);
    if (subscriber) hub.remove(subscriber);
  });
}
