import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import type { AccountRow } from "../accounts/account.view.js";
import { accountForToken } from "../accounts/tokens.js";
import type { Deps } from "../shared/deps.js";
import { redactUrl } from "../shared/logger.js";
import { type EventListener, listenForEvents, type ListenerTuning } from "./listener.js";
import { isStreamName, StreamingHub, type StreamName, type Subscriber } from "./hub.js";

/**
 * `GET /api/v1/streaming` (Mastodon's streaming API over WebSocket), on the web process's HTTP
 * server: the upgrade is authenticated before any socket exists (a bad or missing token is a 401
 * answer to the upgrade request); streams are chosen by `?stream=` and by
 * `{"type":"subscribe"|"unsubscribe","stream":…}` messages, acknowledged as Pleroma does
 * (`pleroma:respond`). Frames come from the hub, fed by the LISTEN connection.
 */

export const STREAMING_PATH = "/api/v1/streaming";

export interface StreamingTuning {
  /** Ping interval; a socket that has not answered the previous ping by the next is terminated. */
  heartbeatMs: number;
  /** A socket with more than this many bytes waiting to be sent is a slow client: terminated. */
  maxBufferedBytes: number;
  listener?: Partial<ListenerTuning>;
}

const DEFAULT_TUNING: StreamingTuning = { heartbeatMs: 30_000, maxBufferedBytes: 1_048_576 };

/** Clients only send small subscribe messages. */
const MAX_CLIENT_MESSAGE_BYTES = 16_384;

export interface Streaming {
  hub: StreamingHub;
  listener: EventListener;
  close(): Promise<void>;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
  ) {
    super(code);
  }
}

const STATUS_TEXT: Record<number, string> = { 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 503: "Service Unavailable" };

/** The token of an upgrade request: `Authorization: Bearer`, else `Sec-WebSocket-Protocol`, else `?access_token=`. */
function tokenOf(req: IncomingMessage, url: URL): string | undefined {
  const bearer = req.headers.authorization?.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (bearer) return bearer;
  const protocol = req.headers["sec-websocket-protocol"]?.split(",")[0]?.trim();
  if (protocol) return protocol;
  return url.searchParams.get("access_token") || undefined;
}

/** `pleroma:respond`: Pleroma's answer to a client message (its payload a JSON string, like every payload). */
function respond(type: string, result: "success" | "error", error?: string): string {
  return JSON.stringify({ event: "pleroma:respond", payload: JSON.stringify({ type, result, ...(error ? { error } : {}) }) });
}

export async function startStreaming(server: Server, deps: Deps, databaseUrl: string, tuning: Partial<StreamingTuning> = {}): Promise<Streaming> {
  const { heartbeatMs, maxBufferedBytes, listener: listenerTuning } = { ...DEFAULT_TUNING, ...tuning };
  const log = deps.logger.child({ component: "streaming" });
  const hub = new StreamingHub(deps);
  const listener = listenForEvents(databaseUrl, deps.logger, (event) => hub.dispatch(event), listenerTuning);
  const alive = new WeakMap<WebSocket, boolean>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_CLIENT_MESSAGE_BYTES,
    // Browsers fail a connection whose offered protocol is not echoed; the first one offered is
    // the token when the client authenticates that way.
    handleProtocols: (protocols) => protocols.values().next().value ?? false,
  });

  const refuse = (socket: Duplex, refusal: Refusal) => {
    const body = JSON.stringify({ error: refusal.code });
    socket.end(
      `HTTP/1.1 ${refusal.status} ${STATUS_TEXT[refusal.status] ?? "Error"}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    socket.once("finish", () => socket.destroy());
  };

  const authenticate = async (req: IncomingMessage, url: URL): Promise<{ account: AccountRow; streams: StreamName[] }> => {
    if (url.pathname.replace(/\/+$/, "") !== STREAMING_PATH) throw new Refusal(404, "not_found");
    const stream = url.searchParams.get("stream");
    if (stream !== null && stream !== "" && !isStreamName(stream)) throw new Refusal(400, "unknown_stream");
    const token = tokenOf(req, url);
    if (!token) throw new Refusal(401, "missing_token");
    let account: AccountRow | undefined;
    try {
      account = await accountForToken(deps.db, token);
    } catch (error) {
      log.warn({ err: error }, "streaming: token check failed");
      throw new Refusal(503, "unavailable");
    }
    if (!account || account.deletedAt) throw new Refusal(401, "invalid_token");
    return { account, streams: stream ? [stream as StreamName] : [] };
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => {});
    const url = new URL(req.url ?? "/", "http://localhost");
    authenticate(req, url).then(
      ({ account, streams }) => {
        if (socket.destroyed) return;
        wss.handleUpgrade(req, socket, head, (ws) => connected(ws, account, streams));
      },
      (error: unknown) => {
        const refusal = error instanceof Refusal ? error : new Refusal(503, "unavailable");
        // Never the token: `access_token` is redacted from the logged path.
        log.info({ status: refusal.status, error: refusal.code, path: redactUrl(req.url ?? "/") }, "streaming: upgrade refused");
        refuse(socket, refusal);
      },
    );
  };

  const connected = (ws: WebSocket, account: AccountRow, streams: StreamName[]) => {
    alive.set(ws, true);
    const subscriber: Subscriber = {
      accountId: account.id,
      streams: new Set(streams),
      send(frame) {
        if (ws.readyState !== WebSocket.OPEN) return;
        if (ws.bufferedAmount + Buffer.byteLength(frame) > maxBufferedBytes) {
          // A client that does not read would make this process buffer without end.
          log.warn({ account: account.id, buffered: ws.bufferedAmount }, "streaming: slow client disconnected");
          ws.terminate();
          return;
        }
        ws.send(frame);
      },
    };
    hub.add(subscriber);
    log.debug({ account: account.id, streams }, "streaming: connected");
    ws.on("pong", () => alive.set(ws, true));
    ws.on("error", () => {});
    ws.on("close", () => hub.remove(subscriber));
    ws.on("message", (data, isBinary) => {
      let parsed: unknown;
      try {
        parsed = isBinary ? undefined : JSON.parse(data.toString());
      } catch {
        parsed = undefined;
      }
      const message = (typeof parsed === "object" && parsed !== null ? parsed : {}) as { type?: unknown; stream?: unknown };
      const type = typeof message.type === "string" ? message.type.slice(0, 64) : "unknown";
      if (type !== "subscribe" && type !== "unsubscribe") return subscriber.send(respond(type, "error", "bad_request"));
      if (!isStreamName(message.stream)) return subscriber.send(respond(type, "error", "bad_topic"));
      if (type === "subscribe") subscriber.streams.add(message.stream);
      else subscriber.streams.delete(message.stream);
      subscriber.send(respond(type, "success"));
    });
  };

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, heartbeatMs);
  heartbeat.unref();

  server.on("upgrade", onUpgrade);
  await listener.ready;

  return {
    hub,
    listener,
    async close() {
      server.off("upgrade", onUpgrade);
      clearInterval(heartbeat);
      const open = [...wss.clients];
      for (const ws of open) ws.close(1001, "server shutting down");
      // A socket that does not complete the closing handshake within a second is cut.
      await Promise.race([
        Promise.all(open.map((ws) => (ws.readyState === WebSocket.CLOSED ? undefined : new Promise((resolve) => ws.once("close", resolve))))),
        new Promise((resolve) => setTimeout(resolve, 1_000).unref()),
      ]);
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await listener.close();
    },
  };
}
