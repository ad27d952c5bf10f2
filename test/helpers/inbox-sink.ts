import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import httpSignature from "http-signature";
import type { ReceivedRequest } from "./remote.js";

/** How the sink answers one POST. */
export interface SinkAnswer {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Answer after this long (requests in flight meanwhile are counted). */
  delayMs?: number;
  /** Never answer (until the client gives up or the sink closes). */
  hang?: boolean;
}

export interface SinkRequest extends ReceivedRequest {
  /** Date.now() when the whole body had arrived. */
  receivedAt: number;
  /** The parsed JSON body (undefined when not JSON). */
  activity: any;
  /** Checked with Joyent's http-signature against the key published in the signer's actor document. */
  signature: { verified: boolean; keyId?: string; headers?: string[]; error?: string };
  digestMatches: boolean;
  answer: SinkAnswer;
}

export interface InboxSink {
  /** Origin, e.g. `http://127.0.0.1:41234`; the host every delivery to it counts against. */
  url: string;
  sharedInbox: string;
  personalInbox(username: string): string;
  /** Every POST received, in arrival order (answered or not). */
  received: SinkRequest[];
  /** Queues answers for the next POSTs, in order; then `fallback` applies. */
  answer(...answers: SinkAnswer[]): void;
  /** Default 202. */
  fallback: SinkAnswer;
  /** Highest number of POSTs in flight at once. */
  maxInFlight: number;
  /** Resolves once `count` POSTs arrived (or `predicate` holds); rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<SinkRequest[]>;
  close(): Promise<void>;
}

const SIGNED = ["(request-target)", "host", "date", "digest", "content-type"];

/**
 * A remote inbox: records each POST, verifies its draft-cavage signature independently of Parley
 * (http-signature; the public key is fetched from the keyId's actor document, as a real server
 * does), and answers what the test scripted: 202 by default, or 503, 429 + Retry-After, 400, 410,
 * a slow answer, or none at all.
 */
export async function startInboxSink(options: { fallback?: SinkAnswer } = {}): Promise<InboxSink> {
  const received: SinkRequest[] = [];
  const scripted: SinkAnswer[] = [];
  const keys = new Map<string, Promise<string>>();
  let inFlight = 0;

  async function publicKeyOf(keyId: string): Promise<string> {
    let key = keys.get(keyId);
    if (!key) {
      key = fetch(keyId.replace(/#.*$/, ""), { headers: { accept: "application/activity+json" } })
        .then((response) => response.json())
        .then((actor: any) => {
          const candidates = [actor.publicKey].flat().filter(Boolean);
          const found = candidates.find((k: any) => k.id === keyId) ?? candidates[0];
          if (!found?.publicKeyPem) throw new Error(`no publicKeyPem for ${keyId}`);
          return found.publicKeyPem as string;
        });
      keys.set(keyId, key);
      key.catch(() => keys.delete(keyId));
    }
    return key;
  }

  async function verify(req: IncomingMessage): Promise<SinkRequest["signature"]> {
    try {
      const parsed = httpSignature.parseRequest(req, { headers: SIGNED, clockSkew: 300 });
      const pem = await publicKeyOf(parsed.keyId);
      return {
        verified: httpSignature.verifySignature(parsed, pem),
        keyId: parsed.keyId,
        headers: (parsed.params.headers as unknown as string[]) ?? [],
      };
    } catch (error) {
      return { verified: false, error: (error as Error).message };
    }
  }

  const sink: InboxSink = {
    url: "",
    sharedInbox: "",
    personalInbox: (username) => `${sink.url}/users/${username}/inbox`,
    received,
    answer: (...answers) => void scripted.push(...answers),
    fallback: options.fallback ?? { status: 202 },
    maxInFlight: 0,
    async waitFor(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`sink: ${received.length} of ${count} POSTs after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return received;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      const path = new URL(req.url ?? "/", "http://sink").pathname;
      if (req.method !== "POST" || !/^\/users\/[^/]+\/inbox$|^\/inbox$/.test(path)) {
        res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not_found"}');
        return;
      }
      inFlight++;
      sink.maxInFlight = Math.max(sink.maxInFlight, inFlight);
      let done = false;
      const finish = () => {
        if (!done) inFlight--;
        done = true;
      };
      res.on("close", finish);
      const body = Buffer.concat(chunks).toString("utf8");
      const answer = scripted.shift() ?? sink.fallback;
      let activity: any;
      try {
        activity = JSON.parse(body);
      } catch {
        activity = undefined;
      }
      const entry: SinkRequest = {
        method: req.method,
        path,
        headers: req.headers,
        body,
        receivedAt: Date.now(),
        activity,
        signature: { verified: false },
        digestMatches: req.headers.digest === `SHA-256=${createHash("sha256").update(body).digest("base64")}`,
        answer,
      };
      entry.signature = await verify(req);
      received.push(entry);
      if (answer.hang) return;
      if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
      if (res.destroyed) return;
      res.writeHead(answer.status ?? 202, answer.headers ?? {});
      res.end(answer.body ?? "");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  sink.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  sink.sharedInbox = `${sink.url}/inbox`;
  return sink;
}
