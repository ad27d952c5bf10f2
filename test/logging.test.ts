import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

const lines: string[] = [];
let parley: TestParley;

beforeAll(async () => {
  parley = await startTestParley({ queue: "postgres", env: { LOG_LEVEL: "info" }, logStream: { write: (line) => lines.push(line) } });
});
afterAll(() => parley.close());

const entries = () => lines.map((line) => JSON.parse(line) as Record<string, any>);

describe("logs", () => {
  it("warn at start when PostgreSQL runs without autovacuum, and only then", async () => {
    const [{ autovacuum }] = await parley.parley.deps.db.$client<{ autovacuum: string }[]>`SHOW autovacuum`;
    const warned = entries().some((e) => e.level === 40 && /autovacuum off/.test(e.msg));
    expect(warned).toBe(autovacuum === "off");
  });

  it("are JSON lines with a request id, reused from X-Request-Id and echoed back", async () => {
    const response = await fetch(`${parley.url}/api/v1/instance`, { headers: { "x-request-id": "trace-me-123" } });
    expect(response.headers.get("x-request-id")).toBe("trace-me-123");
    const generated = await fetch(`${parley.url}/api/v1/instance`);
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const logged = entries().filter((e) => e.req?.url === "/api/v1/instance");
    expect(logged.map((e) => e.reqId)).toEqual(expect.arrayContaining(["trace-me-123", generated.headers.get("x-request-id")]));
    expect(logged[0]).toMatchObject({ level: 30, service: "parley", res: { statusCode: 200 } });
  });

  it("never contain tokens, cookies or signatures", async () => {
    const { token } = await createAccount(parley, "logged");
    await api(parley.url, token).get("/api/v1/accounts/verify_credentials", { cookie: "session=secret-cookie" });
    await fetch(`${parley.url}/inbox`, {
      method: "POST",
      headers: {
        signature: 'keyId="https://x.example/k",signature="c2VjcmV0LXNpZ25hdHVyZQ=="',
        "content-type": "application/activity+json",
      },
      body: "{}",
    });
    const all = lines.join("\n");
    expect(all).toContain("[redacted]");
    for (const secret of [token, parley.adminToken, "secret-cookie", "c2VjcmV0LXNpZ25hdHVyZQ=="]) expect(all).not.toContain(secret);
  });

  it("include Fedify's own records, routed into the same stream", async () => {
    await fetch(`${parley.url}/users/nobody`, { headers: { accept: "application/activity+json" } });
    await fetch(`${parley.url}/inbox`, { method: "POST", headers: { "content-type": "application/activity+json" }, body: "{}" });
    expect(entries().some((e) => e.component === "fedify" && typeof e.category === "string" && e.category.startsWith("fedify"))).toBe(true);
  });
});
