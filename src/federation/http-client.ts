import { lookup } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import ipaddr from "ipaddr.js";
import { Agent, type Dispatcher, request } from "undici";

/**
 * The one HTTP client for remote calls (actors, WebFinger, nodeinfo, deliveries). It resolves DNS
 * itself and refuses private, loopback, link-local and special-use addresses — IPv4-mapped and
 * -compatible IPv6 included — on every hop (the address checked is the address connected to, so
 * DNS rebinding cannot slip past), follows at most 3 redirects, caps responses at 1 MiB, and times
 * out a connect after 5 s and a whole request after 30 s.
 */

export type RemoteFetchErrorCode = "invalid_url" | "private_address" | "timeout" | "too_large" | "too_many_redirects" | "network";

export class RemoteFetchError extends Error {
  constructor(
    readonly code: RemoteFetchErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface SafeFetchOptions {
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  allowPrivateAddress: boolean;
  maxBytes?: number;
  maxRedirects?: number;
  timeoutMs?: number;
  connectTimeoutMs?: number;
  /** Called before each hop (including the first): signs the request for that URL, say. */
  prepare?: (url: URL, headers: Record<string, string>) => Promise<Record<string, string>> | Record<string, string>;
  /** Aborts the request (reported as `timeout`), e.g. a document loader's caller giving up. */
  signal?: AbortSignal;
  /**
   * Internal, for tests of the guard itself: decides which addresses (IP literals in URLs and
   * resolved addresses) may be connected to, in place of `isPublicAddress`, on every hop. The
   * URL rules (scheme, credentials, local names) still follow `allowPrivateAddress`.
   */
  allowAddress?: (address: string) => boolean;
}

export interface SafeResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The URL that answered (after redirects). */
  url: string;
}

const MiB = 1024 * 1024;

/** True for addresses a server on the Internet may be asked to connect to. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv6") {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) parsed = v6.toIPv4Address();
    else {
      // IPv4-compatible (::a.b.c.d, deprecated) embeds an IPv4 address too.
      const parts = v6.parts;
      if (parts.slice(0, 6).every((p) => p === 0) && (parts[6] !== 0 || parts[7] > 1)) {
        parsed = ipaddr.IPv4.parse(`${parts[6] >> 8}.${parts[6] & 255}.${parts[7] >> 8}.${parts[7] & 255}`);
      }
    }
  }
  return parsed.range() === "unicast";
}

type AddressPolicy = (address: string) => boolean;
const anyAddress: AddressPolicy = () => true;

const agents = new Map<string, Agent>();
/** Agents of `allowAddress` policies (tests), one per policy function. */
const policyAgents = new WeakMap<AddressPolicy, Agent>();

function policyOf(options: Pick<SafeFetchOptions, "allowPrivateAddress" | "allowAddress">): AddressPolicy {
  return options.allowAddress ?? (options.allowPrivateAddress ? anyAddress : isPublicAddress);
}

function agentFor(options: SafeFetchOptions, connectTimeoutMs: number): Agent {
  const key = `${options.allowPrivateAddress}:${connectTimeoutMs}`;
  const custom = options.allowAddress;
  let agent = custom ? policyAgents.get(custom) : agents.get(key);
  if (!agent) {
    const allowAddress = policyOf(options);
    const guardedLookup: LookupFunction = (hostname, options, callback) => {
      lookup(hostname, { ...options, all: true }, (error, addresses) => {
        if (error) return callback(error, "", 0);
        const list = addresses as { address: string; family: number }[];
        const allowed = list.filter((a) => allowAddress(a.address));
        if (allowed.length === 0) {
          const refused = new RemoteFetchError("private_address", `${hostname} resolves to a non-public address`);
          return callback(refused as unknown as NodeJS.ErrnoException, "", 0);
        }
        if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof allowed) => void)(null, allowed);
        callback(null, allowed[0].address, allowed[0].family);
      });
    };
    agent = new Agent({ connect: { lookup: guardedLookup, timeout: connectTimeoutMs }, keepAliveTimeout: 10_000 });
    if (custom) policyAgents.set(custom, agent);
    else agents.set(key, agent);
  }
  return agent;
}

/** Host names that mean this machine or its network whatever DNS says (a trailing dot is the same name). */
export function isLocalName(host: string): boolean {
  return /^(localhost|.*\.localhost|.*\.local|.*\.internal)$/i.test(host.replace(/\.$/, ""));
}

function checkUrl(url: URL, allowPrivateAddress: boolean, allowAddress: AddressPolicy): void {
  if (url.username || url.password) throw new RemoteFetchError("invalid_url", "URLs with credentials are refused");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (isIP(host) && !allowAddress(host)) {
    throw new RemoteFetchError("private_address", `${host} is not a public address`);
  }
  if (!isIP(host) && !allowPrivateAddress && isLocalName(host)) {
    throw new RemoteFetchError("private_address", `${host} is a local name`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && allowPrivateAddress)) {
    // Plain http only in development (ALLOW_PRIVATE_ADDRESS=true): a production peer is reached over https.
    throw new RemoteFetchError("invalid_url", `refusing ${url.protocol} URL ${url.href}`);
  }
}

/** Drops a body we will not read (its abort error has nobody to tell). */
function discard(body: Dispatcher.ResponseData<unknown>["body"]): void {
  body.on("error", () => {});
  body.destroy();
}

async function readCapped(body: Dispatcher.ResponseData<unknown>["body"], maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) {
      discard(body);
      throw new RemoteFetchError("too_large", `response larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function safeFetch(input: string | URL, options: SafeFetchOptions): Promise<SafeResponse> {
  const maxRedirects = options.maxRedirects ?? 3;
  const maxBytes = options.maxBytes ?? MiB;
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 30_000);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const dispatcher = agentFor(options, options.connectTimeoutMs ?? 5_000);
  const allowAddress = policyOf(options);
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new RemoteFetchError("invalid_url", `not a URL: ${String(input)}`);
  }
  const method = options.method ?? "GET";
  const body = options.body;
  for (let hop = 0; ; hop++) {
    checkUrl(url, options.allowPrivateAddress, allowAddress);
    const baseHeaders = { ...options.headers };
    const headers = options.prepare ? await options.prepare(url, baseHeaders) : baseHeaders;
    let response: Dispatcher.ResponseData<unknown>;
    try {
      response = await request(url, { method, headers, body, dispatcher, signal, maxRedirections: 0 } as Parameters<typeof request>[1]);
    } catch (error) {
      throw toRemoteError(error, signal);
    }
    const location = response.headers.location;
    // A POST follows only 307/308, which keep method and body: turning a delivery into a GET
    // (what 301/302/303 ask) would make a 2xx look like a delivered activity. Its other 3xx are
    // answered as they are.
    const followable = method === "GET" || response.statusCode === 307 || response.statusCode === 308;
    if (response.statusCode >= 300 && response.statusCode < 400 && typeof location === "string" && followable) {
      discard(response.body);
      if (hop >= maxRedirects) throw new RemoteFetchError("too_many_redirects", `more than ${maxRedirects} redirects`);
      url = new URL(location, url);
      continue;
    }
    let content: Buffer;
    try {
      content = await readCapped(response.body, maxBytes);
    } catch (error) {
      throw error instanceof RemoteFetchError ? error : toRemoteError(error, signal);
    }
    const flat: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    return { status: response.statusCode, headers: flat, body: content, url: url.href };
  }
}

function toRemoteError(error: unknown, signal: AbortSignal): RemoteFetchError {
  if (error instanceof RemoteFetchError) return error;
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof RemoteFetchError) return cause;
  const code = (error as { code?: string }).code;
  if (signal.aborted || code === "UND_ERR_CONNECT_TIMEOUT" || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
    return new RemoteFetchError("timeout", (error as Error).message || "timed out");
  }
  return new RemoteFetchError("network", (error as Error).message || String(error));
}
