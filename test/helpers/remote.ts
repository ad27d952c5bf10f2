import { createHash, generateKeyPairSync } from "node:crypto";
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
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
  /** Answers GETs of `path` (query ignored) with `handler` instead of the built-in routes; undefined removes it. */
  route(path: string, handler: RouteHandler | undefined): void;
  close(): Promise<void>;
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface RemoteServerOptions {
  /** Serve WebFinger (`acct:<username>@<host:port>` → the actor) for the actors created. */
  webfinger?: boolean;
  /** Serve NodeInfo discovery and 2.0/2.1 documents naming this software. */
  nodeinfo?: { software: string; version?: string };
}

export async function startRemoteServer(options: RemoteServerOptions = {}): Promise<RemoteServer> {
  const actors = new Map<string, RemoteActor>();
  const requests: ReceivedRequest[] = [];
  const routes = new Map<string, RouteHandler>();
  let url = "";
  const json = (res: ServerResponse, status: number, body: unknown, type = "application/json") =>
    res.writeHead(status, { "content-type": type }).end(JSON.stringify(body));
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const parsed = new URL(req.url ?? "/", "http://remote");
      const path = parsed.pathname;
      requests.push({ method: req.method ?? "GET", path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      const custom = req.method === "GET" ? routes.get(path) : undefined;
      if (custom) return custom(req, res);
      if (req.method === "GET" && options.webfinger && path === "/.well-known/webfinger") {
        const resource = parsed.searchParams.get("resource") ?? "";
        const match = /^acct:([^@]+)@(.+)$/.exec(resource);
        const actor = match && match[2] === new URL(url).host ? actors.get(match[1]) : undefined;
        if (!actor) return json(res, 404, { error: "not_found" });
        return json(
          res,
          200,
          {
            subject: resource,
            aliases: [actor.id],
            links: [
              { rel: "http://webfinger.net/rel/profile-page", type: "text/html", href: actor.id },
              { rel: "self", type: "application/activity+json", href: actor.id },
            ],
          },
          "application/jrd+json",
        );
      }
      if (req.method === "GET" && options.nodeinfo && path === "/.well-known/nodeinfo") {
        return json(res, 200, {
          links: ["2.0", "2.1"].map((v) => ({ rel: `http://nodeinfo.diaspora.software/ns/schema/${v}`, href: `${url}/nodeinfo/${v}` })),
        });
      }
      const nodeinfoMatch = path.match(/^\/nodeinfo\/(2\.[01])$/);
      if (req.method === "GET" && options.nodeinfo && nodeinfoMatch) {
        return json(res, 200, {
          version: nodeinfoMatch[1],
          software: { name: options.nodeinfo.software, version: options.nodeinfo.version ?? "1.0.0" },
          protocols: ["activitypub"],
          services: { inbound: [], outbound: [] },
          openRegistrations: false,
          usage: { users: { total: actors.size } },
          metadata: {},
        });
      }
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
  url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;

  return {
    url,
    requests,
    route(path, handler) {
      if (handler) routes.set(path, handler);
      else routes.delete(path);
    },
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
  /** A `Digest` header of the caller's choosing, signed as is (valid signature, wrong digest). */
  digest?: string;
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
          digest: options.digest ?? `SHA-256=${createHash("sha256").update(text).digest("base64")}`,
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

/** `signedPost` with a `Digest` header of the caller's choosing (see SignedPostOptions.digest). */
export function signedPostWithDigest(
  url: string,
  body: unknown,
  actor: Pick<RemoteActor, "keyId" | "privateKeyPem">,
  digest: string,
): Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }> {
  return signedPost(url, body, actor, { digest });
}

/**
 * GETs `url` signed draft-cavage rsa-sha256 by `actor` (`(request-target) host date`), as Pleroma
 * and Mastodon fetch objects; `accept` defaults to ActivityPub JSON. Without `actor`, unsigned.
 */
export async function signedGet(
  url: string,
  actor?: Pick<RemoteActor, "keyId" | "privateKeyPem">,
  options: { accept?: string; date?: Date } = {},
): Promise<{ status: number; headers: IncomingMessage["headers"]; body: string; json: any }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        method: "GET",
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        headers: {
          host: target.host,
          date: (options.date ?? new Date()).toUTCString(),
          accept: options.accept ?? "application/activity+json",
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          let json: unknown;
          try {
            json = body ? JSON.parse(body) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (actor) {
      httpSignature.signRequest(req, {
        keyId: actor.keyId,
        key: actor.privateKeyPem,
        algorithm: "rsa-sha256",
        headers: ["(request-target)", "host", "date"],
        authorizationHeaderName: "Signature",
      });
    }
    req.end();
  });
}

/** A scriptable remote inbox that verifies signatures: see inbox-sink.ts. */
export { type InboxSink, type SinkAnswer, type SinkRequest, startInboxSink } from "./inbox-sink.js";
