import { renderHomePage } from "../src/instance/home.js";
import { PARLEY_VERSION } from "../src/instance/version.js";
import { startTestParley, type TestParley } from "./helpers/parley.js";

let parley: TestParley;

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres" });
});
afterAll(() => parley.close());

const BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const hrefs = (html: string) => [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);

describe("GET /", () => {
  it("answers a browser an HTML page naming the instance and the software", async () => {
    const response = await fetch(`${parley.url}/`, { headers: { accept: BROWSER_ACCEPT } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html; charset=utf-8/);
    const html = await response.text();
    const host = new URL(parley.url).host;
    expect(html).toContain(`<title>${host} · Parley</title>`);
    expect(html).toContain(`<h1>${host}</h1>`);
    expect(html).toContain(`Parley ${PARLEY_VERSION}`);
  });

  it("links the API docs, the queue dashboard, health, readiness, metrics and nodeinfo, each of which answers", async () => {
    const html = await (await fetch(`${parley.url}/`)).text();
    const links = hrefs(html);
    expect(links).toEqual(
      expect.arrayContaining(["/api/docs", "/api/openapi", "/admin/queues", "/healthz", "/readyz", "/metrics", "/.well-known/nodeinfo"]),
    );
    for (const link of links) {
      const response = await fetch(new URL(link, parley.url));
      await response.arrayBuffer();
      // The dashboard asks for ADMIN_TOKEN (401 with a Basic challenge); everything else answers as it is.
      expect({ link, status: response.status }).toEqual({ link, status: link === "/admin/queues" ? 401 : 200 });
    }
  });

  it("loads nothing from elsewhere and runs no script: a strict Content-Security-Policy allows only its own style", async () => {
    const response = await fetch(`${parley.url}/`, { headers: { accept: BROWSER_ACCEPT } });
    const csp = response.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/style-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await response.text();
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\//i);
    // The hash in the policy is the hash of the inline style the page carries.
    const style = html.match(/<style>([\s\S]*?)<\/style>/)![1];
    const { createHash } = await import("node:crypto");
    expect(csp).toContain(`'sha256-${createHash("sha256").update(style).digest("base64")}'`);
  });

  it("gives a client that asks for JSON a small JSON document instead, and a client with no Accept the page", async () => {
    const json = await fetch(`${parley.url}/`, { headers: { accept: "application/json" } });
    expect(json.status).toBe(200);
    expect(json.headers.get("vary")).toMatch(/accept/i);
    expect(await json.json()).toMatchObject({
      host: new URL(parley.url).host,
      software: { name: "parley", version: PARLEY_VERSION },
      links: expect.objectContaining({ "API documentation": "/api/docs", "Queue dashboard": "/admin/queues" }),
    });
    const bare = await fetch(`${parley.url}/`, { headers: { accept: "" } });
    expect(bare.headers.get("content-type")).toMatch(/^text\/html/);
    await bare.arrayBuffer();
  });

  it("escapes what it prints", () => {
    const html = renderHomePage(`<img src=x onerror="alert(1)">&`, [{ path: `/a"b`, title: "<b>t</b>", note: "it's" }]);
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<b>t</b>");
    expect(html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;");
    expect(html).toContain(`href="/a&quot;b"`);
    expect(html).toContain("it&#39;s");
  });
});
