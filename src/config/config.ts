import { z } from "zod";

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"], "must be true or false (also 1/0, yes/no)")
  .transform((v) => v === "true" || v === "1" || v === "yes");
const positiveInt = z.coerce.number("must be a whole number").int("must be a whole number").positive("must be greater than 0");
const port = (min: number) =>
  z.coerce.number("must be a port number").int("must be a port number").min(min, `must be between ${min} and 65535`).max(65535, `must be between ${min} and 65535`);
/** `300/300` = 300 requests per 300 s; `off` = no limit. */
const rateLimit = z
  .string()
  .regex(/^(off|[1-9][0-9]*\/[1-9][0-9]*)$/, "must be <count>/<seconds> (e.g. 300/300) or off")
  .transform((v): RateLimitSetting | null => {
    if (v === "off") return null;
    const [max, seconds] = v.split("/").map(Number);
    return { max, windowMs: seconds * 1000 };
  });
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
  };
}
