import { isIP } from "node:net";
import { z } from "zod";

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"], "must be true or false (also 1/0, yes/no)")
  .transform((v) => v === "true" || v === "1" || v === "yes");
const positiveInt = z.coerce.number("must be a whole number").int("must be a whole number").positive("must be greater than 0");
const port = (min: number) =>
  z.coerce
    .number("must be a port number")
    .int("must be a port number")
    .min(min, `must be between ${min} and 65535`)
    .max(65535, `must be between ${min} and 65535`);
/** `300/300` = 300 requests per 300 s; `off` = no limit. */
const rateLimit = z
  .string()
  .regex(/^(off|[1-9][0-9]*\/[1-9][0-9]*)$/, "must be <count>/<seconds> (e.g. 300/300) or off")
  .transform((v): RateLimitSetting | null => {
    if (v === "off") return null;
    const [max, seconds] = v.split("/").map(Number);
    return { max, windowMs: seconds * 1000 };
  });
/** `24h`, `30m`, `90s`, `7d` or plain seconds → milliseconds. */
const duration = z
  .string()
  .regex(/^[0-9]+(s|m|h|d)?$/, "must be a duration: a number of seconds, or with s, m, h or d (e.g. 24h)")
  .transform((v) => {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[v.at(-1) as "s"] ?? 1_000;
    return Number.parseInt(v, 10) * unit;
  })
  .refine((ms) => ms > 0, "must be greater than 0");
const SIZE_UNITS: Record<string, number> = { "": 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
/** `500MiB/3600` = 500 MiB per 3600 s; `off` = no quota. */
const byteQuota = z
  .string()
  .regex(
    /^(off|[1-9][0-9]*(KiB|MiB|GiB)?\/[1-9][0-9]*)$/,
    "must be <size>/<seconds> (e.g. 500MiB/3600; size in bytes or KiB, MiB, GiB) or off",
  )
  .transform((v): ByteQuotaSetting | null => {
    if (v === "off") return null;
    const [, count, unit, seconds] = v.match(/^([0-9]+)(KiB|MiB|GiB)?\/([0-9]+)$/)!;
    return { maxBytes: Number(count) * SIZE_UNITS[unit ?? ""], windowMs: Number(seconds) * 1000 };
  });
const PROXY_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);
/**
 * Whose X-Forwarded-* headers count: `false`, or a comma-separated list of addresses, CIDR ranges
 * and express's names (loopback, linklocal, uniquelocal). `true` is refused: it would let any
 * client choose the address it is rate-limited and logged under.
 */
const trustProxy = z
  .string()
  .transform((v) => v.trim())
  .refine(
    (v) => v !== "true",
    "true would trust every client's X-Forwarded-For; list your proxies' addresses (e.g. loopback,10.0.0.0/8) or false",
  )
  .refine(
    (v) =>
      ["false", "off", "no", "0"].includes(v) ||
      v.split(",").every((entry) => {
        const [address, bits, extra] = entry.trim().split("/");
        if (extra !== undefined) return false;
        if (PROXY_NAMES.has(address) && bits === undefined) return true;
        return isIP(address) !== 0 && (bits === undefined || /^[0-9]{1,3}$/.test(bits));
      }),
    "must be false or a comma-separated list of addresses, CIDR ranges, loopback, linklocal or uniquelocal",
  )
  .transform((v): string[] | false => (["false", "off", "no", "0"].includes(v) ? false : v.split(",").map((entry) => entry.trim())));
const url = (protocols: string[], hint: string) =>
  z.url({ protocol: new RegExp(`^(${protocols.join("|")})$`), message: `must be ${hint}` });

const envSchema = z.object({
  PORT: port(0).default(3000),
  HOST: z.string().min(1).default("0.0.0.0"),
  // Every ActivityPub id hangs off it: an origin only, since a path would be silently dropped.
  PUBLIC_URL: url(["http", "https"], "an http(s):// URL")
    .refine((value) => {
      const parsed = new URL(value);
      return parsed.pathname === "/" && !parsed.search && !parsed.hash && !parsed.username && !parsed.password;
    }, "must be an origin only (scheme, host and port; no path, query or credentials)")
    .optional(),
  DATABASE_URL: url(["postgres", "postgresql"], "a postgres:// URL").optional(),
  REDIS_URL: url(["redis", "rediss"], "a redis:// or rediss:// URL").optional(),
  DATA_DIR: z.string().min(1).default("./.data"),
  ADMIN_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  ALLOW_PRIVATE_ADDRESS: bool.default(false),
  CHAT_MESSAGE_LIMIT: positiveInt.default(5000),
  REMOTE_MESSAGE_LIMIT: positiveInt.default(100_000),
  INBOX_MAX_BYTES: positiveInt.default(262_144),
  MEDIA_MAX_BYTES: positiveInt.default(16_777_216),
  DELIVERY_CONCURRENCY: positiveInt.default(50),
  DELIVERY_MAX_PER_HOST: positiveInt.default(8),
  ROLE: z.enum(["all", "web", "worker"], "must be all, web or worker").default("all"),
  LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], "must be fatal, error, warn, info, debug, trace or silent")
    .default("info"),
  /** Where the embedded PostgreSQL listens when DATABASE_URL is unset. */
  EMBEDDED_PG_PORT: port(1).default(54329),
  /** "<count>/<seconds>": requests per token (user API) / per remote host (inbox), fixed window; "off" disables. */
  RATE_LIMIT_API: rateLimit.default({ max: 300, windowMs: 300_000 }),
  RATE_LIMIT_INBOX: rateLimit.default({ max: 1000, windowMs: 300_000 }),
  /** Bound of a graceful stop (in-flight requests and jobs); above the 30 s delivery request timeout. */
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(45_000),
  /** Fetch preview cards of the first link of messages (OpenGraph); false: cards stay null. */
  LINK_PREVIEWS: bool.default(true),
  /** Whose X-Forwarded-For/-Proto count (client address for rate limits and logs, https). */
  TRUST_PROXY: trustProxy.default(["loopback"]),
  /** Queue key prefix; default `parley:{<public host>}` (one deployment per prefix; the braces keep a queue on one Redis Cluster slot). */
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:{}-]+$/, "must be letters, digits and _ . : { } - only")
    .optional(),
  /** Inbound jobs applied at once per worker process, and how many of them may work for one remote host. */
  INBOUND_CONCURRENCY: positiveInt.default(10),
  INBOUND_MAX_PER_HOST: positiveInt.default(3),
  /** Bound of one fetch of a remote actor or key (author and signature resolution). */
  REMOTE_FETCH_TIMEOUT_MS: positiveInt.default(5_000),
  /** Inbox POSTs per client address before any signature work (RATE_LIMIT_INBOX counts verified senders). */
  RATE_LIMIT_INBOX_IP: rateLimit.default({ max: 3000, windowMs: 300_000 }),
  /** Bytes one account may upload per window. */
  MEDIA_UPLOAD_QUOTA: byteQuota.default({ maxBytes: 500 * 1024 ** 2, windowMs: 3_600_000 }),
  /** Uploads never attached to a message are removed after this long. */
  MEDIA_ORPHAN_TTL: duration.default(24 * 3_600_000),
  /** Streaming WebSockets one account may hold open in one web process. */
  STREAMING_MAX_PER_ACCOUNT: positiveInt.default(20),
  /** A client must send its request headers within this (slowloris), the whole request within the next. */
  HTTP_HEADERS_TIMEOUT_MS: positiveInt.default(20_000),
  HTTP_REQUEST_TIMEOUT_MS: positiveInt.default(60_000),
  /** Open connections one web process accepts (beyond it, new ones are closed at once). */
  HTTP_MAX_CONNECTIONS: positiveInt.default(4096),
});

/** Variables whose value never appears in an error message; URL passwords are masked too. */
const SECRET_VARIABLES = new Set(["ADMIN_TOKEN"]);

function shown(name: string, value: string | undefined): string {
  if (value === undefined) return "";
  if (SECRET_VARIABLES.has(name)) return "=<redacted>";
  // user:password@ in any URL-like value.
  return `=${JSON.stringify(value.replace(/(\/\/[^/@\s:]*:)[^/@\s]*@/, "$1***@"))}`;
}

export interface RateLimitSetting {
  max: number;
  windowMs: number;
}

export interface ByteQuotaSetting {
  maxBytes: number;
  windowMs: number;
}

export interface Config {
  port: number;
  host: string;
  /** Origin of every ActivityPub id, without a trailing slash. */
  publicUrl: string;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  dataDir: string;
  adminToken: string | undefined;
  allowPrivateAddress: boolean;
  chatMessageLimit: number;
  remoteMessageLimit: number;
  inboxMaxBytes: number;
  mediaMaxBytes: number;
  deliveryConcurrency: number;
  deliveryMaxPerHost: number;
  role: "all" | "web" | "worker";
  logLevel: string;
  embeddedPgPort: number;
  /** null: no limit. */
  rateLimitApi: RateLimitSetting | null;
  rateLimitInbox: RateLimitSetting | null;
  shutdownTimeoutMs: number;
  linkPreviews: boolean;
  /** false, or express "trust proxy" entries (addresses, CIDR ranges, loopback…). */
  trustProxy: string[] | false;
  queuePrefix: string;
  inboundConcurrency: number;
  inboundMaxPerHost: number;
  remoteFetchTimeoutMs: number;
  rateLimitInboxIp: RateLimitSetting | null;
  /** null: no quota. */
  mediaUploadQuota: ByteQuotaSetting | null;
  mediaOrphanTtlMs: number;
  streamingMaxPerAccount: number;
  httpHeadersTimeoutMs: number;
  httpRequestTimeoutMs: number;
  httpMaxConnections: number;
}

export class ConfigError extends Error {}

/** Reads and validates the environment; throws one ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset", as in most .env conventions.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue.path[0]);
    throw new ConfigError(`Invalid configuration: ${name}${shown(name, cleaned[name])}: ${issue.message}`);
  }
  const e = parsed.data;
  const publicUrl = new URL(e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).origin;
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    dataDir: e.DATA_DIR,
    adminToken: e.ADMIN_TOKEN,
    allowPrivateAddress: e.ALLOW_PRIVATE_ADDRESS,
    chatMessageLimit: e.CHAT_MESSAGE_LIMIT,
    remoteMessageLimit: e.REMOTE_MESSAGE_LIMIT,
    inboxMaxBytes: e.INBOX_MAX_BYTES,
    mediaMaxBytes: e.MEDIA_MAX_BYTES,
    deliveryConcurrency: e.DELIVERY_CONCURRENCY,
    deliveryMaxPerHost: e.DELIVERY_MAX_PER_HOST,
    role: e.ROLE,
    logLevel: e.LOG_LEVEL,
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    rateLimitApi: e.RATE_LIMIT_API,
    rateLimitInbox: e.RATE_LIMIT_INBOX,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    linkPreviews: e.LINK_PREVIEWS,
    trustProxy: e.TRUST_PROXY,
    // An IPv6 host loses its brackets: glob characters in the SCAN patterns of clean-ups.
    queuePrefix: e.QUEUE_PREFIX ?? `parley:{${new URL(publicUrl).host.replace(/[[\]]/g, "")}}`,
    inboundConcurrency: e.INBOUND_CONCURRENCY,
    inboundMaxPerHost: e.INBOUND_MAX_PER_HOST,
    remoteFetchTimeoutMs: e.REMOTE_FETCH_TIMEOUT_MS,
    rateLimitInboxIp: e.RATE_LIMIT_INBOX_IP,
    mediaUploadQuota: e.MEDIA_UPLOAD_QUOTA,
    mediaOrphanTtlMs: e.MEDIA_ORPHAN_TTL,
    streamingMaxPerAccount: e.STREAMING_MAX_PER_ACCOUNT,
    httpHeadersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
    httpRequestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
    httpMaxConnections: e.HTTP_MAX_CONNECTIONS,
  };
}
