import { Temporal } from "@js-temporal/polyfill";
import type { Deps } from "../shared/deps.js";
import { parleyUserAgent } from "./document-loader.js";
import { safeFetch } from "./http-client.js";
import { PostgresKvStore } from "./kv.js";

/**
 * The nodeinfo `software.name` of a remote server (pleroma, mastodon, lemmy…), which tells whether
 * it understands ChatMessage when its actors do not say. Cached per host in the shared KV store:
 * a day when found, ten minutes when not (a server briefly down is asked again soon).
 */

const SCHEMA = /^https?:\/\/nodeinfo\.diaspora\.software\/ns\/schema\/(\d+)\.(\d+)$/;
const FOUND_TTL = { hours: 24 };
const MISSING_TTL = { minutes: 10 };
const TIMEOUT_MS = 10_000;

type NodeinfoDeps = Pick<Deps, "db" | "config" | "logger">;

/** `software.name` (lower case) of the server at `origin`, or null when it cannot be told. */
export async function nodeinfoSoftware(deps: NodeinfoDeps, origin: string): Promise<string | null> {
  const base = new URL(origin);
  const kv = new PostgresKvStore(deps.db);
  const key = ["parley", "nodeinfo", base.host] as const;
  const cached = await kv.get<{ software: string | null }>(key);
  if (cached) return cached.software;
  let software: string | null = null;
  try {
    software = await fetchSoftware(deps, base);
  } catch (error) {
    deps.logger.debug({ err: error, host: base.host }, "nodeinfo unavailable");
  }
  await kv.set(key, { software }, { ttl: Temporal.Duration.from(software ? FOUND_TTL : MISSING_TTL) });
  return software;
}

async function getJson(deps: NodeinfoDeps, url: URL): Promise<unknown> {
  const answer = await safeFetch(url, {
    headers: { accept: "application/json", "user-agent": parleyUserAgent(deps.config.publicUrl) },
    allowPrivateAddress: deps.config.allowPrivateAddress,
    timeoutMs: TIMEOUT_MS,
  });
  if (answer.status !== 200) throw new Error(`HTTP ${answer.status} from ${url.href}`);
  return JSON.parse(answer.body.toString("utf8"));
}

async function fetchSoftware(deps: NodeinfoDeps, base: URL): Promise<string | null> {
  const discovery = (await getJson(deps, new URL("/.well-known/nodeinfo", base.origin))) as { links?: unknown };
  const links = Array.isArray(discovery?.links) ? (discovery.links as { rel?: unknown; href?: unknown }[]) : [];
  // The newest schema version the server offers (2.1 before 2.0).
  const candidates = links
    .map((link) => {
      const match = typeof link?.rel === "string" ? SCHEMA.exec(link.rel) : null;
      return match && typeof link.href === "string" ? { href: link.href, version: Number(match[1]) * 1000 + Number(match[2]) } : null;
    })
    .filter((c): c is { href: string; version: number } => c !== null)
    .sort((a, b) => b.version - a.version);
  for (const candidate of candidates) {
    let href: URL;
    try {
      href = new URL(candidate.href, base);
    } catch {
      continue;
    }
    if (href.protocol !== "https:" && href.protocol !== "http:") continue;
    const document = (await getJson(deps, href)) as { software?: { name?: unknown } };
    const name = document?.software?.name;
    if (typeof name === "string" && name.trim()) return name.trim().toLowerCase().slice(0, 100);
    return null;
  }
  return null;
}
