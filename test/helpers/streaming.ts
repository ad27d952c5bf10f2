import { type ClientOptions, WebSocket } from "ws";

export interface Frame {
  stream?: string[];
  event: string;
  payload: string;
}

/** A streaming API client that records every frame; `next` waits for one not returned before. */
export class StreamClient {
  readonly frames: Frame[] = [];
  private readonly taken = new Set<Frame>();
  private readonly waiters = new Set<() => void>();
  closed = false;

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      for (const wake of this.waiters) wake();
    });
    ws.on("close", () => {
      this.closed = true;
      for (const wake of this.waiters) wake();
    });
  }

  /** The first frame matching, not returned before; waits up to `timeoutMs`. */
  async next(match: (frame: Frame) => boolean, timeoutMs = 5_000, what = "a frame"): Promise<Frame> {
    const find = () => this.frames.find((frame) => !this.taken.has(frame) && match(frame));
    const found = find();
    if (found) {
      this.taken.add(found);
      return found;
    }
    return new Promise((resolve, reject) => {
      const wake = () => {
        const frame = find();
        if (!frame) return;
        this.taken.add(frame);
        done();
        resolve(frame);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${what} within ${timeoutMs} ms; frames: ${JSON.stringify(this.frames.map((f) => [f.stream, f.event]))}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
      };
      this.waiters.add(wake);
    });
  }

  /** Frames matching that arrived, without waiting. */
  all(match: (frame: Frame) => boolean): Frame[] {
    return this.frames.filter(match);
  }

  send(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  /** Resolves once the socket is closed (by either side). */
  async whenClosed(timeoutMs = 5_000): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
      this.ws.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    if (!this.closed) this.ws.terminate();
  }
}

export const isChatUpdate = (stream: string) => (frame: Frame) => frame.event === "pleroma:chat_update" && frame.stream?.[0] === stream;

/** The streaming URL of an instance (`http://…` → `ws://…/api/v1/streaming?…`). */
export function streamingUrl(base: string, query: Record<string, string> = {}): string {
  const url = new URL("/api/v1/streaming", base);
  url.protocol = "ws:";
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  return url.href;
}

/**
 * Opens a socket; resolves with the client once open, rejects with `{status}` when the upgrade is
 * refused (the HTTP status of the answer).
 */
export function openStream(
  url: string,
  options: { protocols?: string[]; headers?: Record<string, string> } & ClientOptions = {},
): Promise<StreamClient> {
  const { protocols, ...rest } = options;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, rest);
    const client = new StreamClient(ws);
    ws.once("open", () => resolve(client));
    ws.once("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk));
      res.on("end", () => {
        reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body }));
        req.destroy();
      });
    });
    // Also after the promise settled (a no-op then): an unhandled 'error' would end the test run.
    ws.on("error", (error) => reject(error));
  });
}

/** Subscribes and waits for Pleroma's acknowledgement, so later events cannot race it. */
export async function subscribe(client: StreamClient, stream: string, type: "subscribe" | "unsubscribe" = "subscribe") {
  client.send({ type, stream });
  const frame = await client.next((f) => f.event === "pleroma:respond" && JSON.parse(f.payload).type === type, 5_000, `${type} ack`);
  return JSON.parse(frame.payload) as { type: string; result: string; error?: string };
}
