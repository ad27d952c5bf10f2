import { readFileSync } from "node:fs";
import { type KvStore, kvCache } from "@fedify/fedify";
import { signRequest } from "@fedify/fedify/sig";
import { Object as ASObject, CryptographicKey, isActor, Multikey } from "@fedify/vocab";
import {
  type DocumentLoader,
  FetchError,
  getRemoteDocument,
  getUserAgent,
  preloadedContexts,
  type RemoteDocument,
  UrlError,
} from "@fedify/vocab-runtime";
import type { Config } from "../config/config.js";
import { PARLEY_VERSION } from "../instance/version.js";
import { isMlsContextUrl, MLS_CONTEXT_DOCUMENT } from "../mls/vocabulary.js";
import { RemoteFetchError, type SafeFetchOptions, type SafeResponse, safeFetch } from "./http-client.js";

/**
 * JSON-LD document loaders for Fedify that fetch through safeFetch, so that key fetches, object
 * fetches and context fetches get the same SSRF guard, redirect and size limits as every other
 * remote call. Re-exported by remote-actors.ts.
 */

export type LoaderConfig = Pick<Config, "allowPrivateAddress"> & Partial<Pick<Config, "publicUrl" | "remoteFetchTimeoutMs">>;

/** Each fetch of a key, actor, object or context (REMOTE_FETCH_TIMEOUT_MS); an inbox request waits on it. */
const DEFAULT_FETCH_TIMEOUT_MS = 5_000;

/** Pleroma's litepub context (the same file federation.ts serves), for any instance's copy of it. */
const litepubContext = JSON.parse(readFileSync(new URL("./contexts/litepub-0.1.json", import.meta.url), "utf8")) as unknown;

export const ACTIVITY_JSON =
  'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams", application/ld+json';

/** `Parley/0.1.0 (Fedify/…; Node.js/…; +https://our.host)`, as Fedify's own loaders say it. */
export function parleyUserAgent(publicUrl?: string): string {
  return getUserAgent({ software: `Parley/${PARLEY_VERSION}`, url: publicUrl ?? null });
}

/** Alternate links (Link header, HTML <link>) followed at most this many times per load. */
const MAX_ALTERNATES = 2;

function bundled(url: string): RemoteDocument | undefined {
  if (url in preloadedContexts) return { contextUrl: null, documentUrl: url, document: preloadedContexts[url] };
  if (url.endsWith("/schemas/litepub-0.1.jsonld")) return { contextUrl: null, documentUrl: url, document: litepubContext };
  // The MLS vocabulary (any of its aliases): an inbound MLS activity parses without the network.
  if (isMlsContextUrl(url)) return { contextUrl: null, documentUrl: url, document: MLS_CONTEXT_DOCUMENT };
  return undefined;
}

/** safeFetch's answer as the fetch `Response` Fedify's getRemoteDocument reads. */
function toResponse(answer: SafeResponse): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(answer.headers)) {
    try {
      headers.append(name, value);
    } catch {
      // A header value fetch refuses (control characters): not one a document needs.
    }
  }
  const nullBody = answer.status === 204 || answer.status === 205 || answer.status === 304;
  return new Response(nullBody ? null : new Uint8Array(answer.body), { status: answer.status, headers });
}

/** safeFetch's refusals as the errors Fedify classifies (UrlError: refused URL; FetchError: the rest). */
function toLoaderError(url: string, error: unknown): Error {
  if (!(error instanceof RemoteFetchError)) return error instanceof Error ? error : new Error(String(error));
  const converted =
    error.code === "private_address" || error.code === "invalid_url"
      ? new UrlError(`${error.message} (${url})`)
      : new FetchError(url, `${error.code}: ${error.message}`);
  Object.assign(converted, { cause: error, code: error.code });
  return converted;
}

/** `application/activity+json`, or `application/ld+json` (with or without the AS profile). */
export function isActivityJson(contentType: string | undefined): boolean {
  return /^\s*application\/(activity|ld)\+json\s*(;|$)/i.test(contentType ?? "");
}

/** A loader for the origin check's parse: every reference stays unresolved. */
const noFetch: DocumentLoader = (url) => Promise.reject(new FetchError(url, "not fetched"));

/** The only RSA public exponent keys may have (every implementation generates 65537). */
const RSA_EXPONENT = "010001";

/**
 * Why `key` is refused, or undefined: an RSA key with another public exponent than 65537 (a huge
 * one makes each signature check tens of times slower: a cheap way to burn our CPU).
 */
export function refusedKey(key: CryptoKey | null): string | undefined {
  const algorithm = key?.algorithm as Partial<RsaHashedKeyAlgorithm> | undefined;
  if (!algorithm?.publicExponent) return undefined;
  const hex = Buffer.from(algorithm.publicExponent)
    .toString("hex")
    .replace(/^(00)+/, "");
  return hex === RSA_EXPONENT ? undefined : `an RSA key whose public exponent is not 65537 (${hex.length * 4} bits)`;
}

/**
 * What makes a fetched document unacceptable, or undefined. Its claims on another origin than the
 * one that served it (FEP-fe34): its `id`, a key's `owner`, or the `owner`/`controller` of a key
 * an actor embeds; or a key it holds that refusedKey refuses (the signature checked with it then
 * fails: 401).
 * Fedify trusts a key's `owner` to tell whose key it is (`doesActorOwnKey`), so without this any
 * server could serve a key "owned" by an actor of another server and sign as that actor.
 * Read as Fedify reads it (JSON-LD, whatever the spelling); what Fedify cannot parse as an object
 * (a context, say) is passed on as it is.
 */
async function refusal(
  document: unknown,
  documentUrl: string,
  contextLoader: DocumentLoader,
  activityJson: boolean,
): Promise<string | undefined> {
  if (typeof document !== "object" || document === null || Array.isArray(document)) return undefined;
  const origin = new URL(documentUrl).origin;
  const options = { documentLoader: noFetch, contextLoader };
  let object: ASObject | CryptographicKey | Multikey;
  try {
    object = await ASObject.fromJsonLd(document, options);
  } catch (error) {
    if (!(error instanceof TypeError)) return undefined;
    try {
      object = await CryptographicKey.fromJsonLd(document, options);
    } catch {
      return undefined;
    }
  }
  // An actor or key only from an ActivityPub answer: not from a file a user uploaded to that
  // origin and that it serves as text/plain or application/json (CVE-2024-23832's class).
  if (!activityJson && (object instanceof CryptographicKey || object instanceof Multikey || isActor(object))) {
    return `an actor or key served without an ActivityPub content type at ${documentUrl}`;
  }
  const claims: (URL | null | undefined)[] = [object.id];
  const keys: (CryptoKey | null)[] = [];
  if (object instanceof CryptographicKey) {
    claims.push(object.ownerId);
    keys.push(object.publicKey);
  } else if (object instanceof Multikey) {
    claims.push(object.controllerId);
    keys.push(object.publicKey);
  } else if (isActor(object)) {
    const quiet = { ...options, suppressError: true };
    for await (const key of object.getPublicKeys(quiet)) {
      claims.push(key.id, key.ownerId);
      keys.push(key.publicKey);
    }
    for await (const key of object.getAssertionMethods(quiet)) {
      claims.push(key.id, key.controllerId);
      keys.push(key.publicKey);
    }
  }
  const foreign = claims.find((claim) => claim != null && claim.origin !== origin)?.href;
  if (foreign) return `${foreign} (not on the origin of ${documentUrl})`;
  for (const key of keys) {
    const refused = refusedKey(key);
    if (refused) return `${refused} at ${documentUrl}`;
  }
  return undefined;
}

function buildLoader(config: LoaderConfig, prepare?: SafeFetchOptions["prepare"]): DocumentLoader {
  const userAgent = parleyUserAgent(config.publicUrl);
  /** `check`: refuse foreign claims (not for the contexts that check itself loads). */
  const load = async (url: string, signal: AbortSignal | undefined, alternates: number, check = true): Promise<RemoteDocument> => {
    signal?.throwIfAborted();
    const known = bundled(url);
    if (known) return known;
    let answer: SafeResponse;
    try {
      answer = await safeFetch(url, {
        headers: { accept: ACTIVITY_JSON, "user-agent": userAgent },
        allowPrivateAddress: config.allowPrivateAddress,
        timeoutMs: config.remoteFetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
        signal,
        prepare,
      });
    } catch (error) {
      throw toLoaderError(url, error);
    }
    const remote = await getRemoteDocument(answer.url, toResponse(answer), (next) => {
      if (alternates >= MAX_ALTERNATES) return Promise.reject(new FetchError(next, "too many alternate links"));
      return load(next, signal, alternates + 1, check);
    });
    if (!check) return remote;
    const contexts: DocumentLoader = async (context) => bundled(context) ?? load(context, signal, 0, false);
    // Through an alternate link, the nested load checked what it fetched.
    const activityJson = remote.documentUrl !== answer.url || isActivityJson(answer.headers["content-type"]);
    const refused = await refusal(remote.document, remote.documentUrl, contexts, activityJson);
    if (refused) throw new FetchError(url, `refused: ${refused}`);
    return remote;
  };
  return (url, options) => load(url, options?.signal, 0);
}

/**
 * Fedify's documentLoaderFactory/contextLoaderFactory: every fetch through safeFetch; the
 * preloaded contexts, Pleroma's litepub context (any `…/schemas/litepub-0.1.jsonld`) and the MLS
 * context (src/mls/vocabulary.ts) are answered locally. With `contextCache` (for contexts, which rarely change), other documents are
 * kept there for 5 minutes (Fedify's kvCache default); the bundled ones never cost a query.
 */
export function remoteDocumentLoader(config: LoaderConfig, options: { contextCache?: KvStore } = {}): DocumentLoader {
  const loader = buildLoader(config);
  if (!options.contextCache) return loader;
  const cached = kvCache({ loader, kv: options.contextCache, kind: "context" });
  return async (url, loadOptions) => bundled(url) ?? cached(url, loadOptions);
}

/**
 * Fedify's authenticatedDocumentLoaderFactory: the same, with every GET (each redirect hop too)
 * signed by `identity` — draft-cavage rsa-sha256 for RSA keys (what Pleroma and Mastodon's
 * authorized fetch check), RFC 9421 for any other key type.
 */
export function authenticatedRemoteDocumentLoader(config: LoaderConfig, identity: { keyId: URL; privateKey: CryptoKey }): DocumentLoader {
  const spec = identity.privateKey.algorithm.name === "RSASSA-PKCS1-v1_5" ? "draft-cavage-http-signatures-12" : "rfc9421";
  return buildLoader(config, async (url, headers) => {
    const signed = await signRequest(new Request(url, { method: "GET", headers }), identity.privateKey, identity.keyId, { spec });
    return Object.fromEntries(signed.headers);
  });
}
