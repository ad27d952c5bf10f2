/**
 * A remote server for the MLS fan-out bench: it serves an actor document for any `/users/<name>`
 * (a Person with its own inbox and the server's shared inbox, so Parley resolves its recipients
 * over HTTP as it would a real server's) and takes POSTs to its inboxes. Each POST's Digest and
 * draft-cavage RSA signature are checked with node:crypto against the key published in the
 * signer's actor document (fetched once per keyId); the receipt keeps only what the bench needs.
 * Unlike test/helpers/inbox-sink.ts, its actors are resolvable, none need keys of their own, and
 * nothing but the receipts is kept in memory.
 */
import { createHash, createPublicKey, type KeyObject, verify } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";

export interface InboxReceipt {
  /** Date.now() once the whole body had arrived. */
  receivedAt: number;
  path: string;
  /** The activity's `object.content` (for an MLS object, its base64 bytes), or undefined. */
  content?: string;
  verified: boolean;
}

export interface ActorInboxSink {
  /** Origin, e.g. `http://127.0.0.1:41234`. */
  url: string;
  sharedInbox: string;
  actorUri(name: string): string;
  receipts: InboxReceipt[];
  /** GETs of actor documents served (Parley's resolutions). */
  actorFetches: number;
  close(): Promise<void>;
}

const ACTIVITY_JSON = "application/activity+json";

function signatureParams(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of header.matchAll(/(\w+)="([^"]*)"/g)) out[match[1]] = match[2];
  return out;
}

export async function startActorInboxSink(): Promise<ActorInboxSink> {
  const keys = new Map<string, Promise<KeyObject>>();

  function publicKeyOf(keyId: string): Promise<KeyObject> {
    let key = keys.get(keyId);
    if (!key) {
      key = fetch(keyId.replace(/#.*$/, ""), { headers: { accept: ACTIVITY_JSON } })
        .then((response) => response.json())
        .then((actor: { publicKey?: { id?: string; publicKeyPem?: string } | { id?: string; publicKeyPem?: string }[] }) => {
          const candidates = [actor.publicKey ?? []].flat();
          const found = candidates.find((k) => k.id === keyId) ?? candidates[0];
          if (!found?.publicKeyPem) throw new Error(`no publicKeyPem for ${keyId}`);
          return createPublicKey(found.publicKeyPem);
        });
      keys.set(keyId, key);
      key.catch(() => keys.delete(keyId));
    }
    return key;
  }

  async function verified(req: IncomingMessage, body: Buffer): Promise<boolean> {
    if (req.headers.digest !== `SHA-256=${createHash("sha256").update(body).digest("base64")}`) return false;
    const signature = signatureParams(String(req.headers.signature ?? ""));
    if (!signature.keyId || !signature.signature) return false;
    const signingString = (signature.headers ?? "date")
      .split(" ")
      .map((name) =>
        name === "(request-target)" ? `(request-target): ${req.method!.toLowerCase()} ${req.url}` : `${name}: ${req.headers[name]}`,
      )
      .join("\n");
    try {
      return verify("sha256", Buffer.from(signingString), await publicKeyOf(signature.keyId), Buffer.from(signature.signature, "base64"));
    } catch {
      return false;
    }
  }

  const sink: ActorInboxSink = {
    url: "",
    sharedInbox: "",
    actorUri: (name) => `${sink.url}/users/${name}`,
    receipts: [],
    actorFetches: 0,
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
      const actor = /^\/users\/([^/]+)$/.exec(path);
      if (req.method === "GET" && actor) {
        sink.actorFetches++;
        const id = sink.actorUri(actor[1]);
        const document = {
          "@context": "https://www.w3.org/ns/activitystreams",
          id,
          type: "Person",
          preferredUsername: actor[1],
          inbox: `${id}/inbox`,
          endpoints: { sharedInbox: sink.sharedInbox },
        };
        res.writeHead(200, { "content-type": ACTIVITY_JSON }).end(JSON.stringify(document));
        return;
      }
      if (req.method !== "POST" || !/^\/users\/[^/]+\/inbox$|^\/inbox$/.test(path)) {
        res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not_found"}');
        return;
      }
      const receivedAt = Date.now();
      const body = Buffer.concat(chunks);
      let content: string | undefined;
      try {
        const object = (JSON.parse(body.toString("utf8")) as { object?: { content?: unknown } }).object;
        if (typeof object?.content === "string") content = object.content;
      } catch {
        // not JSON: recorded without content, answered 400 below
      }
      const ok = content !== undefined && (await verified(req, body));
      sink.receipts.push({ receivedAt, path, content, verified: ok });
      res.writeHead(ok ? 202 : content === undefined ? 400 : 401).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  sink.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  sink.sharedInbox = `${sink.url}/inbox`;
  return sink;
}
