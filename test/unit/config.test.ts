import { ConfigError, loadConfig } from "../../src/config/config.js";

/** The environment as `npm start` reads it: defaults, accepted spellings, one-line refusals. */

describe("loadConfig", () => {
  it.each([
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["DATABASE_URL", "mysql://x"],
    ["REDIS_URL", "http://localhost:6379"],
    ["PUBLIC_URL", "ftp://example.com"],
    ["PUBLIC_URL", "https://example.com/parley"],
    ["ROLE", "both"],
    ["ALLOW_PRIVATE_ADDRESS", "maybe"],
    ["CHAT_MESSAGE_LIMIT", "-1"],
    ["CHAT_MESSAGE_LIMIT", "lots"],
    ["LOG_LEVEL", "loud"],
  ])("refuses %s=%s with one line naming the variable", (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain("\n");
    expect(message).toMatch(new RegExp(`^Invalid configuration: ${name}=`));
    expect(message).toContain(JSON.stringify(value));
  });

  it("never repeats a secret in its message", () => {
    expect(() => loadConfig({ ADMIN_TOKEN: "short-secret" })).toThrow(
      /^Invalid configuration: ADMIN_TOKEN=<redacted>: must be at least 16/,
    );
    expect(() => loadConfig({ ADMIN_TOKEN: "short-secret" })).not.toThrow(/short-secret/);
    expect(() => loadConfig({ DATABASE_URL: "postgres://parley:hunter2@db:notaport/parley" })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ DATABASE_URL: "postgres://parley:hunter2@db:notaport/parley" })).not.toThrow(/hunter2/);
  });

  it("applies the documented defaults", () => {
    expect(loadConfig({})).toEqual({
      port: 3000,
      host: "0.0.0.0",
      publicUrl: "http://localhost:3000",
      databaseUrl: undefined,
      redisUrl: undefined,
      dataDir: "./.data",
      adminToken: undefined,
      allowPrivateAddress: false,
      chatMessageLimit: 5000,
      remoteMessageLimit: 100_000,
      inboxMaxBytes: 262_144,
      mediaMaxBytes: 16_777_216,
      deliveryConcurrency: 50,
      deliveryMaxPerHost: 8,
      role: "all",
      logLevel: "info",
      embeddedPgPort: 54329,
      rateLimitApi: { max: 300, windowMs: 300_000 },
      rateLimitInbox: { max: 1000, windowMs: 300_000 },
      shutdownTimeoutMs: 45_000,
      linkPreviews: true,
      trustProxy: ["loopback"],
      queuePrefix: "parley:{localhost:3000}",
      inboundConcurrency: 10,
      inboundMaxPerHost: 3,
      remoteFetchTimeoutMs: 5_000,
      rateLimitInboxIp: { max: 3000, windowMs: 300_000 },
      mediaUploadQuota: { maxBytes: 500 * 1024 * 1024, windowMs: 3_600_000 },
      mediaOrphanTtlMs: 86_400_000,
      streamingMaxPerAccount: 20,
      httpHeadersTimeoutMs: 20_000,
      httpRequestTimeoutMs: 60_000,
      httpMaxConnections: 4096,
    });
  });

  it("reads the bounds of issue 13: proxies, queue prefix, quotas, durations", () => {
    const config = loadConfig({
      PUBLIC_URL: "https://chat.example",
      TRUST_PROXY: "loopback, 10.0.0.0/8,192.168.1.7",
      MEDIA_UPLOAD_QUOTA: "2GiB/86400",
      MEDIA_ORPHAN_TTL: "90m",
    });
    expect(config.trustProxy).toEqual(["loopback", "10.0.0.0/8", "192.168.1.7"]);
    expect(config.queuePrefix).toBe("parley:{chat.example}");
    expect(config.mediaUploadQuota).toEqual({ maxBytes: 2 * 1024 ** 3, windowMs: 86_400_000 });
    expect(config.mediaOrphanTtlMs).toBe(90 * 60_000);
    expect(loadConfig({ TRUST_PROXY: "false", MEDIA_UPLOAD_QUOTA: "off", MEDIA_ORPHAN_TTL: "3600" })).toMatchObject({
      trustProxy: false,
      mediaUploadQuota: null,
      mediaOrphanTtlMs: 3_600_000,
    });
    expect(() => loadConfig({ TRUST_PROXY: "true" })).toThrow(/TRUST_PROXY="true": true would trust every client/);
    expect(() => loadConfig({ TRUST_PROXY: "proxy.example" })).toThrow(/TRUST_PROXY=.*comma-separated list/);
    expect(() => loadConfig({ MEDIA_UPLOAD_QUOTA: "5TB/60" })).toThrow(/MEDIA_UPLOAD_QUOTA=.*<size>\/<seconds>/);
    expect(() => loadConfig({ MEDIA_ORPHAN_TTL: "0h" })).toThrow(/MEDIA_ORPHAN_TTL=.*greater than 0/);
    expect(() => loadConfig({ QUEUE_PREFIX: "a b" })).toThrow(/QUEUE_PREFIX=/);
    expect(loadConfig({ PUBLIC_URL: "http://[::1]:8080" }).queuePrefix).toBe("parley:{::1:8080}");
  });

  it("reads values, treats empty strings as unset, and keeps PUBLIC_URL an origin", () => {
    const config = loadConfig({
      PORT: "8080",
      PUBLIC_URL: "https://chat.example/",
      DATABASE_URL: "postgresql://u:p@db:5432/parley",
      REDIS_URL: "redis://cache:6379/2",
      ALLOW_PRIVATE_ADDRESS: "yes",
      CHAT_MESSAGE_LIMIT: "200",
      ROLE: "worker",
      LOG_LEVEL: "",
      ADMIN_TOKEN: "",
    });
    expect(config).toMatchObject({
      port: 8080,
      publicUrl: "https://chat.example",
      databaseUrl: "postgresql://u:p@db:5432/parley",
      redisUrl: "redis://cache:6379/2",
      allowPrivateAddress: true,
      chatMessageLimit: 200,
      role: "worker",
      logLevel: "info",
      adminToken: undefined,
    });
    expect(loadConfig({ PORT: "8080" }).publicUrl).toBe("http://localhost:8080");
  });

  it("reads RATE_LIMIT_API / RATE_LIMIT_INBOX / RATE_LIMIT_INBOX_IP as <count>/<seconds> or off", () => {
    expect(loadConfig({ RATE_LIMIT_API: "10/60", RATE_LIMIT_INBOX: "off", RATE_LIMIT_INBOX_IP: "50/10" })).toMatchObject({
      rateLimitApi: { max: 10, windowMs: 60_000 },
      rateLimitInbox: null,
      rateLimitInboxIp: { max: 50, windowMs: 10_000 },
    });
    expect(loadConfig({}).rateLimitInboxIp).toEqual({ max: 3000, windowMs: 300_000 });
    expect(() => loadConfig({ RATE_LIMIT_API: "lots" })).toThrow(ConfigError);
    expect(() => loadConfig({ RATE_LIMIT_INBOX: "10/0" })).toThrow(/RATE_LIMIT_INBOX="10\/0": must be <count>\/<seconds>/);
  });
});
