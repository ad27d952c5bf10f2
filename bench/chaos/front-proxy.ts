import { createServer, request as httpRequest, type Server } from "node:http";
import { freePort } from "../../test/helpers/parley.js";

/**
 * HTTP proxy in front of B (B's PUBLIC_URL): passes everything, or answers 503 to inbox POSTs
 * while `failing`. Counts inbox POSTs refused that way and those cut by a dead web process.
 */
export interface FrontProxy {
  port: number;
  target: number;
  failing: boolean;
  refused: number;
  /** Inbox POSTs that got no answer from B's web process (it was down or died under them). */
  upstreamErrors: number;
  close(): Promise<void>;
}

export async function startFrontProxy(): Promise<FrontProxy> {
  const port = await freePort();
  let server: Server;
  const proxy: FrontProxy = {
    port,
    target: 0,
    failing: false,
    refused: 0,
    upstreamErrors: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server = createServer((req, res) => {
    const inboxPost = req.method === "POST" && /\/inbox$/.test(req.url?.split("?")[0] ?? "");
    if (proxy.failing && inboxPost) {
      proxy.refused++;
      req.resume();
      res.writeHead(503, { "content-type": "text/plain" }).end("chaos: inbox unavailable");
      return;
    }
    const upstream = httpRequest(
      { host: "127.0.0.1", port: proxy.target, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (inboxPost) proxy.upstreamErrors++;
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return proxy;
}
