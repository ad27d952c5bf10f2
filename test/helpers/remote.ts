import { createHash, generateKeyPairSync } from "node:crypto";
import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import httpSignature from "http-signature";

/**
 * A remote fediverse server played by the test: a loopback node:http server that serves actor
 * documents (with their RSA `publicKey`) and records what is POSTed to their inboxes, plus
 * `signedPost()`, which signs like Pleroma with Joyent's `http-signature` (an implementation
 * independent of Fedify's).
 */
export interface RemoteActor {
  username: string;
  /** Actor id. */
  id: string;
  keyId: string;
  inbox: string;
  publicKeyPem: string;
  privateKeyPem: string;
  /** The JSON served at `id`. */
  document: Record<string, unknown>;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

export interface RemoteServer {
  /** Origin, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Creates an actor served at `/users/<username>`; `extra` is merged into its document. */
  actor(username: string, extra?: Record<string, unknown>): RemoteActor;
  /** Every request the server received, in order (GETs of actors included). */
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

export async function startRemoteServer(): Promise<RemoteServer> {
  const actors = new Map<string, RemoteActor>();
  const requests: ReceivedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://remote").pathname;
      requests.push({ method: req.method ?? "GET", path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      const actorMatch = path.match(/^\/users\/([^/]+)$/);
      if (req.method === "GET" && actorMatch && actors.has(actorMatch[1])) {
        res.writeHead(200, { "content-type": "application/activity+json" });
        res.end(JSON.stringify(actors.get(actorMatch[1])!.document));
        return;
      }
      if (req.method === "POST" && /^\/users\/[^/]+\/inbox$|^\/inbox$/.test(path)) {
        res.writeHead(202).end();
        return;
      }
      res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not_found"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;

  return {
    url,
    requests,
    actor(username, extra = {}) {
      const { publicKey, privateKey } = generateKeyPairSync("rsa", {
        modulusLength: 2048,
        publicKeyEncoding: { type: "spki", format: "pem" },
        privateKeyEncoding: { type: "pkcs1", format: "pem" },
      });
      const id = `${url}/users/${username}`;
      const actor: RemoteActor = {
        username,
        id,
        keyId: `${id}#main-key`,
        inbox: `${id}/inbox`,
        publicKeyPem: publicKey,
        privateKeyPem: privateKey,
        document: {
          "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
          id,
          type: "Person",
          preferredUsername: username,
          inbox: `${id}/inbox`,
          outbox: `${id}/outbox`,
          endpoints: { sharedInbox: `${url}/inbox` },
          publicKey: { id: `${id}#main-key`, owner: id, publicKeyPem: publicKey },
          ...extra,
        },
      };
      actors.set(username, actor);
      return actor;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface SignedPostOptions {
  /** Sign with this PEM instead of the actor's own key (keyId stays the actor's). */
  privateKeyPem?: string;
  /** Replace the body after signing (Digest and signature then describe the original). */
  tamper?: (body: string) => string;
  /** Signed Date header; default now. */
  date?: Date;
  /** Signed headers; default Pleroma's `(request-target) host date digest content-type`. */
  headers?: string[];
  contentType?: string;
}

/** POSTs `body` to `url`, signed draft-cavage rsa-sha256 by `actor` as Pleroma does. */
export async function signedPost(
  url: string,
  body: unknown,
  actor: Pick<RemoteActor, "keyId" | "privateKeyPem">,
  options: SignedPostOptions = {},
): Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }> {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  const target = new URL(url);
  const sent = options.tamper ? options.tamper(text) : text;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        method: "POST",
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        headers: {
          host: target.host,
          date: (options.date ?? new Date()).toUTCString(),
          digest: `SHA-256=${createHash("sha256").update(text).digest("base64")}`,
          "content-type": options.contentType ?? "application/activity+json",
          "content-length": Buffer.byteLength(sent),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    httpSignature.signRequest(req, {
      keyId: actor.keyId,
      key: options.privateKeyPem ?? actor.privateKeyPem,
      algorithm: "rsa-sha256",
      headers: options.headers ?? ["(request-target)", "host", "date", "digest", "content-type"],
      authorizationHeaderName: "Signature",
    });
    req.end(sent);
  });
}
