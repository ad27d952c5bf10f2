/**
 * The framework's own ceiling, run as its own process: a Fedify inbox with an in-memory KV store, an
 * actor for any name and a listener that does nothing, behind node:http — what Fedify alone costs
 * per signed `Create` (signature and Digest check, key cache, JSON-LD parse). It loads documents and
 * contexts with Parley's loader (so the litepub context is answered locally, as in Parley).
 * Prints {"port"}; the bench warms its key cache before measuring.
 */

import { createServer } from "node:http";
import { createFederation, MemoryKvStore } from "@fedify/fedify";
import { Create, Endpoints, Person } from "@fedify/vocab";
import { remoteDocumentLoader } from "../../src/federation/document-loader.js";

const loaderConfig = { allowPrivateAddress: true };
const federation = createFederation<void>({
  kv: new MemoryKvStore(),
  documentLoaderFactory: () => remoteDocumentLoader(loaderConfig),
  contextLoaderFactory: () => remoteDocumentLoader(loaderConfig),
});
federation
  .setActorDispatcher(
    "/users/{identifier}",
    (ctx, identifier) =>
      new Person({
        id: ctx.getActorUri(identifier),
        preferredUsername: identifier,
        inbox: ctx.getInboxUri(identifier),
        endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      }),
  )
  .setKeyPairsDispatcher(async () => []);
federation.setInboxListeners("/users/{identifier}/inbox", "/inbox").on(Create, async () => {});

const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = Object.entries(req.headers).flatMap(([name, value]) => [value ?? []].flat().map((v) => [name, v] as [string, string]));
  const response = await federation.fetch(
    new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method,
      headers,
      body: req.method === "POST" ? Buffer.concat(chunks) : undefined,
    }),
    { contextData: undefined },
  );
  res.writeHead(response.status, Object.fromEntries(response.headers)).end(Buffer.from(await response.arrayBuffer()));
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`);
});
