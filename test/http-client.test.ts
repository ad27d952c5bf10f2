import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import ipaddr from "ipaddr.js";
import { isPublicAddress, RemoteFetchError, safeFetch } from "../src/federation/http-client.js";

/**
 * safeFetch, the one client for remote calls: the SSRF guard on every hop, 3 redirects, 1 MiB,
 * timeouts. Loopback servers play the remote; nothing here needs DNS or the Internet.
 */

interface TestServer {
  url: string;
  port: number;
  /** Requests answered (path and query). */
  hits: string[];
  /** TCP connections accepted, answered or not. */
  connections: number;
  close(): Promise<void>;
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const state = { hits: [] as string[], connections: 0 };
  const server: Server = createServer((req, res) => {
    state.hits.push(req.url ?? "/");
    handler(req, res);
  });
  server.on("connection", () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get hits() {
      return state.hits;
    },
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

/** The RemoteFetchError code a call fails with (or "ok"). */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (error) {
    if (error instanceof RemoteFetchError) return error.code;
    throw error;
  }
}

describe("isPublicAddress", () => {
  it.each([
    ["8.8.8.8", true],
    ["1.1.1.1", true],
    ["93.184.215.14", true],
    ["2001:4860:4860::8888", true],
    ["2606:4700:4700::1111", true],
    ["127.0.0.1", false],
    ["127.255.255.254", false],
    ["0.0.0.0", false],
    ["10.0.0.1", false],
    ["172.16.0.1", false],
    ["172.31.255.255", false],
    ["192.168.1.1", false],
    ["169.254.169.254", false], // cloud metadata
    ["100.64.0.1", false], // carrier-grade NAT
    ["192.0.2.1", false], // TEST-NET-1
    ["198.51.100.7", false], // TEST-NET-2
    ["203.0.113.9", false], // TEST-NET-3
    ["224.0.0.1", false], // multicast
    ["240.0.0.1", false], // reserved
    ["255.255.255.255", false], // broadcast
    ["::", false],
    ["::1", false],
    ["fe80::1", false], // link-local
    ["fc00::1", false], // unique local
    ["fd12:3456:789a::1", false],
    ["ff02::1", false], // multicast
    ["2001:db8::1", false], // documentation
    ["::ffff:127.0.0.1", false], // IPv4-mapped loopback
    ["::ffff:7f00:1", false], // the same, hex spelling
    ["::ffff:10.0.0.1", false],
    ["::ffff:169.254.169.254", false],
    ["::ffff:8.8.8.8", true], // IPv4-mapped public
    ["::127.0.0.1", false], // IPv4-compatible (deprecated) loopback
    ["::10.0.0.1", false],
    ["64:ff9b::7f00:1", false], // NAT64 of 127.0.0.1
    ["2002:7f00:1::", false], // 6to4 of 127.0.0.1
    ["not an address", false],
    ["example.com", false],
  ])("%s → %s", (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });
});

describe("safeFetch with ALLOW_PRIVATE_ADDRESS=false", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await serve((_req, res) => res.end("secret"));
  });
  afterAll(() => server.close());

  it.each([
    ["loopback", (port: number) => `http://127.0.0.1:${port}/`],
    ["loopback over https", (port: number) => `https://127.0.0.1:${port}/`],
    ["IPv4-mapped loopback", (port: number) => `https://[::ffff:127.0.0.1]:${port}/`],
    ["IPv6 loopback", (port: number) => `https://[::1]:${port}/`],
    ["localhost", (port: number) => `https://localhost:${port}/`],
    ["a .localhost name", (port: number) => `https://parley.localhost:${port}/`],
    ["a private address", () => "https://10.0.0.1/"],
    ["the metadata service", () => "http://169.254.169.254/latest/meta-data/"],
    ["a decimal spelling of loopback", (port: number) => `https://2130706433:${port}/`],
  ])("refuses %s before connecting", async (_name, url) => {
    const before = server.connections;
    expect(await outcome(safeFetch(url(server.port), { allowPrivateAddress: false, timeoutMs: 2000 }))).toBe("private_address");
    expect(server.connections).toBe(before);
  });

  it("refuses plain http and URLs with credentials", async () => {
    expect(await outcome(safeFetch("http://example.com/", { allowPrivateAddress: false }))).toBe("invalid_url");
    expect(await outcome(safeFetch("https://user:pass@example.com/", { allowPrivateAddress: false }))).toBe("invalid_url");
    expect(await outcome(safeFetch("ftp://example.com/", { allowPrivateAddress: false }))).toBe("invalid_url");
    expect(await outcome(safeFetch("not a url", { allowPrivateAddress: false }))).toBe("invalid_url");
  });
});

describe("safeFetch with ALLOW_PRIVATE_ADDRESS=true", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await serve((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      const hop = url.pathname.match(/^\/redirect\/(\d+)$/);
      if (hop) {
        const left = Number(hop[1]);
        res.writeHead(302, { location: left > 1 ? `/redirect/${left - 1}` : "/final" }).end();
      } else if (url.pathname === "/final") {
        res.end("arrived");
      } else if (url.pathname === "/bytes") {
        res.writeHead(200, { "content-type": "application/octet-stream" }).end(Buffer.alloc(Number(url.searchParams.get("n")), 120));
      } else if (url.pathname === "/silent") {
        // Accepts the request and never answers.
      } else if (url.pathname === "/stall") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("partial");
      } else if (url.pathname === "/to-mapped") {
        res.writeHead(302, { location: `http://[::ffff:127.0.0.1]:${server.port}/final` }).end();
      } else if (url.pathname === "/to-localhost") {
        res.writeHead(302, { location: `http://localhost:${server.port}/final` }).end();
      } else if (url.pathname === "/see-other" && req.method === "POST") {
        res.writeHead(303, { location: "/final" }).end();
      } else if (url.pathname === "/temporary" && req.method === "POST") {
        res.writeHead(307, { location: "/echo" }).end();
      } else if (url.pathname === "/echo") {
        let body = "";
        req.on("data", (chunk) => (body += chunk));
        req.on("end", () => res.end(`${req.method} ${body}`));
      } else {
        res.writeHead(404).end();
      }
    });
  });
  afterAll(() => server.close());
  const allowed = { allowPrivateAddress: true };

  it("follows a chain of 3 redirects and reports the final URL", async () => {
    const response = await safeFetch(`${server.url}/redirect/3`, allowed);
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe("arrived");
    expect(response.url).toBe(`${server.url}/final`);
  });

  it("refuses a 4th redirect", async () => {
    const before = server.hits.length;
    expect(await outcome(safeFetch(`${server.url}/redirect/4`, allowed))).toBe("too_many_redirects");
    // Four redirects were answered; the target of the fourth was never asked for.
    expect(server.hits.slice(before)).toEqual(["/redirect/4", "/redirect/3", "/redirect/2", "/redirect/1"]);
  });

  it("answers a POST's 303 as it is: a delivery never turns into a GET", async () => {
    const before = server.hits.length;
    const response = await safeFetch(`${server.url}/see-other`, { ...allowed, method: "POST", body: "x" });
    expect(response.status).toBe(303);
    expect(server.hits.slice(before)).toEqual(["/see-other"]);
  });

  it("follows a POST's 307 with the same method and body", async () => {
    const response = await safeFetch(`${server.url}/temporary`, { ...allowed, method: "POST", body: "payload" });
    expect(response.body.toString()).toBe("POST payload");
  });

  it("reads 1 MiB and refuses 1 MiB + 1 byte", async () => {
    const MiB = 1024 * 1024;
    expect((await safeFetch(`${server.url}/bytes?n=${MiB}`, allowed)).body.length).toBe(MiB);
    expect(await outcome(safeFetch(`${server.url}/bytes?n=${MiB + 1}`, allowed))).toBe("too_large");
  });

  it("times out a server that accepts and never answers", async () => {
    const started = Date.now();
    expect(await outcome(safeFetch(`${server.url}/silent`, { ...allowed, timeoutMs: 300 }))).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("times out a body that stops half-way", async () => {
    expect(await outcome(safeFetch(`${server.url}/stall`, { ...allowed, timeoutMs: 300 }))).toBe("timeout");
  });

  it("stops when the caller's signal aborts", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    expect(await outcome(safeFetch(`${server.url}/silent`, { ...allowed, signal: controller.signal }))).toBe("timeout");
  });

  // The address check runs on every hop, not only the first. A public host cannot be reached
  // from here, so these tests swap the address policy (`allowAddress`, internal) for one that
  // admits only one spelling of loopback: the first hop is allowed, the redirect target is not.
  it("checks each redirect's address: an IP literal in Location", async () => {
    const ipv4Only = (address: string) => ipaddr.parse(address).kind() === "ipv4";
    const before = server.hits.length;
    const result = await outcome(safeFetch(`${server.url}/to-mapped`, { ...allowed, allowAddress: ipv4Only }));
    expect(result).toBe("private_address");
    expect(server.hits.slice(before)).toEqual(["/to-mapped"]);
  });

  it("checks each redirect's address: a name resolved by DNS", async () => {
    const ipv6Only = (address: string) => ipaddr.parse(address).kind() === "ipv6";
    const first = `http://[::ffff:127.0.0.1]:${server.port}/to-localhost`;
    const before = server.hits.length;
    const result = await outcome(safeFetch(first, { ...allowed, allowAddress: ipv6Only }));
    // localhost resolves to 127.0.0.1 here: refused by the resolver's check on the second hop.
    expect(result).toBe("private_address");
    expect(server.hits.slice(before)).toEqual(["/to-localhost"]);
  });

  it("with the same policy, the allowed spelling is fetched (the policy is not refusing everything)", async () => {
    const ipv4Only = (address: string) => ipaddr.parse(address).kind() === "ipv4";
    expect((await safeFetch(`${server.url}/final`, { ...allowed, allowAddress: ipv4Only })).status).toBe(200);
  });
});
