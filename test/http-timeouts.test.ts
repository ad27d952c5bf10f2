import { connect, type Socket } from "node:net";
import { createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { openStream, streamingUrl, subscribe } from "./helpers/streaming.js";

/**
 * The web server's bounds on one client: headers within HTTP_HEADERS_TIMEOUT_MS (slowloris), the
 * whole request within HTTP_REQUEST_TIMEOUT_MS, HTTP_MAX_CONNECTIONS open connections at most —
 * and a streaming WebSocket, once upgraded, outlives the request timeout.
 */

interface RawConnection {
  socket: Socket;
  /** Everything the server sent. */
  received(): string;
  /** Resolves with the milliseconds from connect to close; rejects after `withinMs`. */
  closed(withinMs: number): Promise<number>;
}

async function rawConnection(base: string): Promise<RawConnection> {
  const { hostname, port } = new URL(base);
  const socket = connect(Number(port), hostname);
  socket.on("error", () => {});
  let text = "";
  socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
  const opened = Date.now();
  const closing = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now() - opened)));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return {
    socket,
    received: () => text,
    closed: (withinMs) =>
      Promise.race([
        closing,
        new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`still open after ${withinMs} ms`)), withinMs).unref()),
      ]),
  };
}

/** Writes `chunks` one every `everyMs` while the socket is open. */
function drip(socket: Socket, chunks: string[], everyMs: number): NodeJS.Timeout {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= chunks.length) return clearInterval(timer);
    socket.write(chunks[i++]);
  }, everyMs);
  return timer;
}

describe("with short timeouts (headers 1 s, request 2 s)", () => {
  let parley: TestParley;
  beforeAll(async () => {
    parley = await startTestParley({ env: { HTTP_HEADERS_TIMEOUT_MS: "1000", HTTP_REQUEST_TIMEOUT_MS: "2000" } });
  });
  afterAll(() => parley.close());

  it("cuts a client that sends its headers slowly within the header timeout, with a 408", async () => {
    const conn = await rawConnection(parley.url);
    conn.socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n");
    // One header line every 200 ms: the request would never be complete.
    const timer = drip(
      conn.socket,
      Array.from({ length: 100 }, (_, i) => `X-Slow-${i}: a\r\n`),
      200,
    );
    const afterMs = await conn.closed(10_000);
    clearInterval(timer);
    // Cut by the timeout (within its last check period, a quarter of it here), not by Node's 60 s.
    expect(afterMs).toBeGreaterThanOrEqual(700);
    expect(afterMs).toBeLessThan(4_000);
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("cuts a client that sends its body slowly within the request timeout", async () => {
    const conn = await rawConnection(parley.url);
    const body = JSON.stringify({ username: "slowbody", padding: "x".repeat(400) });
    conn.socket.write(
      `POST /api/v1/admin/accounts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${parley.adminToken}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    // Ten bytes every 200 ms: 8 s for the whole body.
    const timer = drip(conn.socket, body.match(/.{1,10}/g)!, 200);
    const afterMs = await conn.closed(10_000);
    clearInterval(timer);
    // Past the header timeout (the headers were complete), within the request timeout's bound.
    expect(afterMs).toBeGreaterThanOrEqual(1_500);
    expect(afterMs).toBeLessThan(5_000);
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408 /);
    const accounts = await parley.parley.deps.db.$client`SELECT 1 FROM accounts WHERE username = 'slowbody'`;
    expect(accounts).toHaveLength(0);
  });

  it("keeps an upgraded streaming WebSocket open past the request timeout", async () => {
    const { token } = await createAccount(parley, "longsocket");
    const client = await openStream(streamingUrl(parley.url, { access_token: token }));
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    expect(client.closed).toBe(false);
    expect(await subscribe(client, "user:pleroma_chat")).toMatchObject({ result: "success" });
    client.close();
  });

  it("still answers a request sent at a normal pace", async () => {
    const response = await fetch(new URL("/healthz", parley.url));
    expect(response.status).toBe(200);
  });
});

describe("with a connection cap of 3", () => {
  let parley: TestParley;
  beforeAll(async () => {
    parley = await startTestParley({ env: { HTTP_MAX_CONNECTIONS: "3" } });
  });
  afterAll(() => parley.close());

  it("closes connections beyond the cap at once, and accepts again once one is gone", async () => {
    const held = await Promise.all([1, 2, 3].map(() => rawConnection(parley.url)));
    // Let the server accept all three before the fourth arrives.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const extra = await rawConnection(parley.url);
    extra.socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    await extra.closed(5_000);
    expect(extra.received()).toBe("");

    held[0].socket.destroy();
    await held[0].closed(5_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const next = await rawConnection(parley.url);
    next.socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    await next.closed(5_000);
    expect(next.received()).toMatch(/^HTTP\/1\.1 200 /);
    for (const conn of held) conn.socket.destroy();
  });
});
