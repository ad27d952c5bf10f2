import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import { sessionForToken } from "../accounts/tokens.js";
import type { Deps } from "../shared/deps.js";
import { redactUrl } from "../shared/logger.js";
import { isStreamName, StreamingHub, type StreamName } from "./hub.js";
import { type EventListener, type ListenerTuning, listenForEvents } from "./listener.js";
import { type SignedIn, startSession } from "./session.js";

/**
 * `GET /api/v1/streaming` (Mastodon's streaming API over WebSocket), on the web process's HTTP
 * server. A token on the upgrade (`Authorization`, `Sec-WebSocket-Protocol`, `?access_token=`) is
 * checked before any socket exists (a bad one is a 401 answer to the upgrade request, as is a
 * `?stream=` without a token); an upgrade without token nor stream opens a socket that must send
 * `pleroma:authenticate` (src/streaming/session.ts). Streams are chosen by `?stream=` and by
 * `{"type":"subscribe"|"unsubscribe","stream":…}` messages, acknowledged as Pleroma does
 * (`pleroma:respond`). Frames come from the hub, fed by the LISTEN connection. An account holds
 * at most STREAMING_MAX_PER_ACCOUNT sockets in one process: the next is a 429 on the upgrade, or,
 * signing in by message, closed with 1008.
 */

export const STREAMING_PATH = "/api/v1/streaming";

export interface StreamingTuning {
  /** Ping interval; a socket that has not answered the previous ping by the next is terminated. */
  heartbeatMs: number;
  /** A socket with more than this many bytes waiting to be sent is a slow client: terminated. */
  maxBufferedBytes: number;
  /** A socket opened without a token is closed (1008) when it has not authenticated within this. */
  authTimeoutMs: number;
  listener?: Partial<ListenerTuning>;
}

const DEFAULT_TUNING: StreamingTuning = { heartbeatMs: 30_000, maxBufferedBytes: 1_048_576, authTimeoutMs: 10_000 };

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

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  429: "Too Many Requests",
  503: "Service Unavailable",
};

/** The token of an upgrade request: `Authorization: Bearer`, else `Sec-WebSocket-Protocol`, else `?access_token=`. */
function tokenOf(req: IncomingMessage, url: URL): string | undefined {
  const bearer = req.headers.authorization?.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (bearer) return bearer;
  const protocol = req.headers["sec-websocket-protocol"]?.split(",")[0]?.trim();
  if (protocol) return protocol;
  return url.searchParams.get("access_token") || undefined;
}

export async function startStreaming(
  server: Server,
  deps: Deps,
  databaseUrl: string,
  tuning: Partial<StreamingTuning> = {},
): Promise<Streaming> {
  const { heartbeatMs, maxBufferedBytes, authTimeoutMs, listener: listenerTuning } = { ...DEFAULT_TUNING, ...tuning };
  const log = deps.logger.child({ component: "streaming" });
  const hub = new StreamingHub(deps);
  const maxPerAccount = deps.config.streamingMaxPerAccount;
  const listener = listenForEvents(
    databaseUrl,
    deps.logger,
    (event) => hub.dispatch(event),
    listenerTuning,
    () => {
      hub.closeRevoked().catch((error: unknown) => log.warn({ err: error }, "streaming: could not check the tokens of open sockets"));
    },
  );
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

  const sessionOf = async (token: string) => {
    const session = await sessionForToken(deps.db, token);
    return session && !session.account.deletedAt ? session : undefined;
  };

  const authenticate = async (req: IncomingMessage, url: URL): Promise<{ signedIn?: SignedIn; streams: StreamName[] }> => {
    if (url.pathname.replace(/\/+$/, "") !== STREAMING_PATH) throw new Refusal(404, "not_found");
    const stream = url.searchParams.get("stream") || undefined;
    if (stream !== undefined && !isStreamName(stream)) throw new Refusal(400, "unknown_stream");
    const streams = stream ? [stream] : [];
    const token = tokenOf(req, url);
    if (!token) {
      // Every stream is an account's (Pleroma: 401 for a user stream without a token); without
      // one, the socket authenticates by message (Pleroma-FE since October 2024).
      if (stream) throw new Refusal(401, "missing_token");
      return { streams };
    }
    let signedIn: SignedIn | undefined;
    try {
      signedIn = await sessionOf(token);
    } catch (error) {
      log.warn({ err: error }, "streaming: token check failed");
      throw new Refusal(503, "unavailable");
    }
    if (!signedIn) throw new Refusal(401, "invalid_token");
    return { signedIn, streams };
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => {});
    const url = new URL(req.url ?? "/", "http://localhost");
    authenticate(req, url).then(
      ({ signedIn, streams }) => {
        if (socket.destroyed) return;
        // Checked in the same turn as the socket joins the hub (handleUpgrade calls back at once).
        if (signedIn && hub.countOf(signedIn.account.id) >= maxPerAccount) {
          log.info({ account: signedIn.account.id, limit: maxPerAccount }, "streaming: upgrade refused, too many sockets for the account");
          return refuse(socket, new Refusal(429, "too_many_connections"));
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          alive.set(ws, true);
          ws.on("pong", () => alive.set(ws, true));
          ws.on("error", () => {});
          startSession(ws, signedIn, streams, { hub, log, sessionOf, maxBufferedBytes, authTimeoutMs, maxPerAccount });
        });
      },
      (error: unknown) => {
        const refusal = error instanceof Refusal ? error : new Refusal(503, "unavailable");
        // Never the token: `access_token` is redacted from the logged path.
        log.info({ status: refusal.status, error: refusal.code, path: redactUrl(req.url ?? "/") }, "streaming: upgrade refused");
        refuse(socket, refusal);
      },
    );
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
        Promise.all(
          open.map((ws) => (ws.readyState === WebSocket.CLOSED ? undefined : new Promise((resolve) => ws.once("close", resolve)))),
        ),
        new Promise((resolve) => setTimeout(resolve, 1_000).unref()),
      ]);
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await listener.close();
    },
  };
}
