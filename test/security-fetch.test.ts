import { lookup } from "node:dns/promises";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from "node:net";
import { hostname } from "node:os";
import { FetchError } from "@fedify/vocab-runtime";
import { isPublicAddress, RemoteFetchError, safeFetch } from "../src/federation/http-client.js";
import { RemoteActorError, remoteDocumentLoader, resolveRemoteActor } from "../src/federation/remote-actors.js";
import { webfingerActorUri } from "../src/federation/webfinger.js";
import { pleromaChatMessage, stored } from "./helpers/inbox.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";

/**
 * The SSRF-safe fetcher (src/federation/http-client.ts), end to end: IPv6 and
 * numeric spellings of private addresses, WebFinger and actor URLs pointing home, names resolving
 * to private addresses, oversized and trickling answers, content types, ids on other origins, both
 * in our own actor fetch and in Fedify's document loader (key fetches). Loopback servers play the
 * remote; nothing needs DNS beyond this machine or the Internet.
 */

let parley: TestParley;
let guarded: TestParley;
let guardedToken: string;
let remote: RemoteServer;
/** A server whose answers each test scripts by path. */
let scripted: {
  url: string;
  port: number;
  connections: number;
  handlers: Map<string, (req: IncomingMessage, res: ServerResponse) => void>;
  close(): Promise<void>;
};
/** A raw TCP server for answers no HTTP library would write (trickled status lines). */
let raw: { port: number; close(): Promise<void> };

async function startScripted() {
  const handlers = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
  const state = { connections: 0 };
  const server: Server = createHttpServer((req, res) => {
    const handler = handlers.get(new URL(req.url ?? "/", "http://x").pathname);
    if (handler) handler(req, res);
    else res.writeHead(404).end();
  });
  server.on("connection", () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    handlers,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function startTrickler() {
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    // A status line, one byte every 50 ms: headers never complete.
    const text = "HTTP/1.1 200 OK\r\ncontent-type: application/activity+json\r\n";
    let i = 0;
    const timer = setInterval(() => {
      if (socket.destroyed) return clearInterval(timer);
      socket.write(text[i++ % text.length]);
    }, 50);
    socket.on("close", () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

beforeAll(async () => {
  [parley, guarded, remote, scripted, raw] = await Promise.all([
    startTestParley({ role: "web" }),
    startTestParley({ role: "web", env: { ALLOW_PRIVATE_ADDRESS: "false" } }),
    startRemoteServer({ webfinger: true }),
    startScripted(),
    startTrickler(),
  ]);
  guardedToken = (await createAccount(guarded, "gina")).token;
});
afterAll(async () => {
  await Promise.all([parley?.close(), guarded?.close(), remote?.close(), scripted?.close(), raw?.close()]);
});

async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (error) {
    if (error instanceof RemoteFetchError || error instanceof RemoteActorError) return error.code;
    if (error instanceof FetchError) return "FetchError";
    throw error;
  }
}
const sql = () => parley.parley.deps.db.$client;
const actorDocument = (id: string, extra: Record<string, unknown> = {}) => ({
  "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
  id,
  type: "Person",
  preferredUsername: new URL(id).pathname.split("/").pop(),
  inbox: `${id}/inbox`,
  ...extra,
});
const serveJson = (path: string, body: unknown, contentType = "application/activity+json") =>
  scripted.handlers.set(path, (_req, res) => res.writeHead(200, { "content-type": contentType }).end(JSON.stringify(body)));

describe("address spellings", () => {
  it.each([
    "fd00::1", // unique local
    "fec0::1", // deprecated site-local
    "2002:a00:1::", // 6to4 of 10.0.0.1
    "2002:c0a8:101::", // 6to4 of 192.168.1.1
    "64:ff9b::a00:1", // NAT64 of 10.0.0.1
    "64:ff9b::a9fe:a9fe", // NAT64 of the metadata service
    "64:ff9b:1::a00:1", // local-use NAT64 (RFC 8215)
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo
    "::ffff:0:7f00:1", // IPv4-translated (SIIT)
    "::7f00:1", // IPv4-compatible loopback, hex
    "100::1", // discard-only
    "::", // unspecified
  ])("%s is not public", (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([
    ["[::1]", "IPv6 loopback"],
    ["[::ffff:127.0.0.1]", "IPv4-mapped loopback"],
    ["[::ffff:7f00:1]", "IPv4-mapped loopback, hex"],
    ["[0:0:0:0:0:ffff:127.0.0.1]", "IPv4-mapped loopback, long form"],
    ["[64:ff9b::7f00:1]", "NAT64 of loopback"],
    ["[2002:7f00:1::]", "6to4 of loopback"],
    ["[fd00::1]", "unique local"],
    ["[::]", "unspecified"],
    ["127.1", "short loopback"],
    ["0x7f.0.0.1", "hex loopback"],
    ["0177.0.0.1", "octal loopback"],
    ["2130706433", "decimal loopback"],
    ["0", "0.0.0.0"],
    ["169.254.169.254", "the metadata service"],
  ])("safeFetch refuses %s (%s) before connecting", async (host) => {
    const before = scripted.connections;
    for (const scheme of ["https", "http"]) {
      expect(await outcome(safeFetch(`${scheme}://${host}:${scripted.port}/`, { allowPrivateAddress: false, timeoutMs: 2000 }))).toBe(
        "private_address",
      );
    }
    expect(scripted.connections).toBe(before);
  });

  it("a name resolving to a private address is refused after resolution (the machine's own host name)", async () => {
    const name = hostname();
    let addresses: string[] = [];
    try {
      addresses = (await lookup(name, { all: true })).map((a) => a.address);
    } catch {
      // not resolvable here: nothing to check
    }
    if (addresses.length === 0 || addresses.some(isPublicAddress)) return;
    const result = await outcome(safeFetch(`https://${name}:${scripted.port}/`, { allowPrivateAddress: false, timeoutMs: 2000 }));
    expect(result).toBe("private_address");
  });
});

describe("WebFinger and actor URLs pointing home (ALLOW_PRIVATE_ADDRESS=false)", () => {
  const lookupGuarded = (acct: string) => api(guarded.url, guardedToken).get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(acct)}`);

  it("acct:x@ any spelling of this machine: 404, no request reaches it", async () => {
    remote.actor("x");
    const port = new URL(remote.url).port;
    const before = remote.requests.length;
    for (const host of [
      "127.0.0.1",
      "[::1]",
      "[::ffff:127.0.0.1]",
      "localhost",
      "2130706433",
      "0x7f000001",
      "127.1",
      "parley.localhost",
      "metadata.internal",
    ]) {
      for (const acct of [`x@${host}:${port}`, `acct:x@${host}:${port}`, `@x@${host}:${port}`]) {
        expect([acct, (await lookupGuarded(acct)).status]).toEqual([acct, 404]);
      }
      expect(await webfingerActorUri(guarded.parley.deps, "x", `${host}:${port}`)).toBeUndefined();
    }
    expect(remote.requests.slice(before)).toEqual([]);
  });

  it("actor URLs on this machine, the metadata service or a private network: 404, no request", async () => {
    const port = new URL(remote.url).port;
    const before = remote.requests.length;
    for (const url of [
      `http://127.0.0.1:${port}/users/x`,
      `https://[::1]:${port}/users/x`,
      `https://[::ffff:7f00:1]:${port}/users/x`,
      "http://169.254.169.254/latest/meta-data/",
      "https://10.0.0.1/users/x",
    ]) {
      expect([url, (await lookupGuarded(url)).status]).toEqual([url, 404]);
    }
    expect(remote.requests.slice(before)).toEqual([]);
  });
});

describe("oversized and trickling answers", () => {
  const MiB = 1024 * 1024;

  it("an actor document over 1 MiB: too_large, nothing stored (declared length or chunked)", async () => {
    const big = (id: string) => JSON.stringify(actorDocument(id, { summary: "x".repeat(MiB) }));
    scripted.handlers.set("/users/big", (_req, res) =>
      res.writeHead(200, { "content-type": "application/activity+json" }).end(big(`${scripted.url}/users/big`)),
    );
    scripted.handlers.set("/users/chunked", (_req, res) => {
      res.writeHead(200, { "content-type": "application/activity+json" });
      const body = big(`${scripted.url}/users/chunked`);
      for (let i = 0; i < body.length; i += 64 * 1024) res.write(body.slice(i, i + 64 * 1024));
      res.end();
    });
    for (const name of ["big", "chunked"]) {
      expect(await outcome(resolveRemoteActor(parley.parley.deps, `${scripted.url}/users/${name}`))).toBe("too_large");
      expect(await sql()`SELECT 1 FROM accounts WHERE uri = ${`${scripted.url}/users/${name}`}`).toHaveLength(0);
    }
    // Fedify's key fetches go through the same cap.
    expect(await outcome(remoteDocumentLoader({ allowPrivateAddress: true })(`${scripted.url}/users/big`))).toBe("FetchError");
  });

  it("an inbox POST signed with a key whose document is over 1 MiB: 401, nothing stored", async () => {
    const bob = await createAccount(parley, "bob");
    const sender = remote.actor("bigkey");
    scripted.handlers.set("/keys/big", (_req, res) =>
      res
        .writeHead(200, { "content-type": "application/activity+json" })
        .end(JSON.stringify({ ...sender.document, padding: "x".repeat(MiB) })),
    );
    const before = await stored(parley);
    const response = await signedPost(`${parley.url}/inbox`, pleromaChatMessage(sender, `${parley.url}/users/${bob.account.username}`), {
      keyId: `${scripted.url}/keys/big`,
      privateKeyPem: sender.privateKeyPem,
    });
    expect(response.status).toBe(401);
    expect(await stored(parley)).toEqual(before);
  });

  it("a body trickled byte by byte fails at the deadline, not when the server stops", async () => {
    scripted.handlers.set("/trickle", (_req, res) => {
      res.writeHead(200, { "content-type": "application/activity+json" });
      const timer = setInterval(() => res.write(" "), 20);
      res.on("close", () => clearInterval(timer));
    });
    const started = Date.now();
    expect(await outcome(safeFetch(`${scripted.url}/trickle`, { allowPrivateAddress: true, timeoutMs: 600 }))).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("a status line trickled byte by byte fails at the deadline", async () => {
    const started = Date.now();
    expect(await outcome(safeFetch(`http://127.0.0.1:${raw.port}/`, { allowPrivateAddress: true, timeoutMs: 600 }))).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("Fedify's loader times out a trickling key within safeFetch's bound when its caller gives up", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const result = await outcome(
      remoteDocumentLoader({ allowPrivateAddress: true })(`http://127.0.0.1:${raw.port}/key`, { signal: controller.signal }),
    );
    expect(result).not.toBe("ok");
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe("what a fetched document must be", () => {
  it.each([
    ["text/plain", false],
    ["application/json", false],
    ["application/octet-stream", false],
    ["text/html", false],
    ["", false],
    ["application/activity+json", true],
    ["application/activity+json; charset=utf-8", true],
    ['application/ld+json; profile="https://www.w3.org/ns/activitystreams"', true],
  ])("an actor served as %j is accepted: %s", async (contentType, accepted) => {
    const name = `ct${Buffer.from(contentType).toString("hex").slice(0, 16) || "none"}`;
    const id = `${scripted.url}/users/${name}`;
    scripted.handlers.set(`/users/${name}`, (_req, res) => {
      res.writeHead(200, contentType ? { "content-type": contentType } : {});
      res.end(JSON.stringify(actorDocument(id)));
    });
    const result = await outcome(resolveRemoteActor(parley.parley.deps, id));
    expect(result).toBe(accepted ? "ok" : "invalid_json");
    expect(await sql()`SELECT 1 FROM accounts WHERE uri = ${id}`).toHaveLength(accepted ? 1 : 0);
  });

  it("an uploaded file on the actor's own origin cannot serve as its key: 401, nothing stored", async () => {
    // The file claims to be an actor at its own URL, holding a key owned by a real actor of that
    // origin; served as text/plain, as a media upload would be.
    const victim = remote.actor("victim");
    const attacker = remote.actor("uploader");
    remote.route("/media/evil.json", (_req, res) =>
      res.writeHead(200, { "content-type": "text/plain" }).end(
        JSON.stringify({
          ...attacker.document,
          id: `${remote.url}/media/evil.json`,
          publicKey: { id: `${remote.url}/media/evil.json#key`, owner: victim.id, publicKeyPem: attacker.publicKeyPem },
        }),
      ),
    );
    await createAccount(parley, "carol");
    const before = await stored(parley);
    const response = await signedPost(
      `${parley.url}/inbox`,
      pleromaChatMessage(victim, `${parley.url}/users/carol`, { content: "from an upload" }),
      {
        keyId: `${remote.url}/media/evil.json#key`,
        privateKeyPem: attacker.privateKeyPem,
      },
    );
    expect(response.status).toBe(401);
    expect(await stored(parley)).toEqual(before);
  });

  it("Fedify's loader refuses a document whose id or key owner is on another origin, and keeps same-origin ones", async () => {
    const load = remoteDocumentLoader({ allowPrivateAddress: true });
    const pem = remote.actor("pem_source").publicKeyPem;
    serveJson("/users/liar", actorDocument("https://elsewhere.example/users/liar"));
    serveJson(
      "/users/honest",
      actorDocument(`${scripted.url}/users/honest`, {
        publicKey: { id: `${scripted.url}/users/honest#main-key`, owner: `${scripted.url}/users/honest`, publicKeyPem: pem },
      }),
    );
    serveJson(
      "/users/lender",
      actorDocument(`${scripted.url}/users/lender`, {
        publicKey: { id: `${scripted.url}/users/lender#main-key`, owner: "https://elsewhere.example/users/victim", publicKeyPem: pem },
      }),
    );
    serveJson("/keys/foreign", {
      "@context": "https://w3id.org/security/v1",
      id: `${scripted.url}/keys/foreign`,
      type: "CryptographicKey",
      owner: "https://elsewhere.example/users/victim",
      publicKeyPem: pem,
    });
    expect(await outcome(load(`${scripted.url}/users/liar`))).toBe("FetchError");
    expect(await outcome(load(`${scripted.url}/users/lender`))).toBe("FetchError");
    expect(await outcome(load(`${scripted.url}/keys/foreign`))).toBe("FetchError");
    expect((await load(`${scripted.url}/users/honest`)).document).toMatchObject({ id: `${scripted.url}/users/honest` });
    // A context (no id, not an actor) served as plain JSON is still a context.
    serveJson("/context.json", { "@context": { chat: "https://example.org/ns#chat" } }, "application/json");
    expect((await load(`${scripted.url}/context.json`)).document).toMatchObject({ "@context": { chat: "https://example.org/ns#chat" } });
  });
});
