import type { Deps } from "../shared/deps.js";
import { parleyUserAgent } from "./document-loader.js";
import { RemoteFetchError, safeFetch } from "./http-client.js";

/**
 * WebFinger (RFC 7033) for `name@host`: the actor id of the `self` link with an ActivityPub type.
 * https only, unless ALLOW_PRIVATE_ADDRESS=true (development), where plain http is tried after it.
 */

const ACTIVITY_TYPE = /^application\/(activity\+json|ld\+json)\b/i;

export async function webfingerActorUri(deps: Pick<Deps, "config" | "logger">, name: string, host: string): Promise<string | undefined> {
  const schemes = deps.config.allowPrivateAddress ? ["https", "http"] : ["https"];
  for (const scheme of schemes) {
    const url = new URL(`${scheme}://${host}/.well-known/webfinger`);
    url.searchParams.set("resource", `acct:${name}@${host}`);
    let answer;
    try {
      answer = await safeFetch(url, {
        headers: { accept: "application/jrd+json, application/json", "user-agent": parleyUserAgent(deps.config.publicUrl) },
        allowPrivateAddress: deps.config.allowPrivateAddress,
        timeoutMs: 10_000,
      });
    } catch (error) {
      deps.logger.debug({ err: error, url: url.href }, "webfinger failed");
      // A refused address is refused on every scheme; a TLS or network failure may not be.
      if (error instanceof RemoteFetchError && (error.code === "private_address" || error.code === "invalid_url")) return undefined;
      continue;
    }
    if (answer.status !== 200) return undefined;
    return selfLink(answer.body);
  }
  return undefined;
}

function selfLink(body: Buffer): string | undefined {
  let jrd: { links?: unknown };
  try {
    jrd = JSON.parse(body.toString("utf8")) as { links?: unknown };
  } catch {
    return undefined;
  }
  const links = Array.isArray(jrd?.links) ? (jrd.links as { rel?: unknown; type?: unknown; href?: unknown }[]) : [];
  for (const link of links) {
    if (link?.rel !== "self" || typeof link.type !== "string" || !ACTIVITY_TYPE.test(link.type)) continue;
    if (typeof link.href !== "string") continue;
    try {
      const href = new URL(link.href);
      if (href.protocol === "https:" || href.protocol === "http:") return href.href;
    } catch {
      // not a URL: try the next link
    }
  }
  return undefined;
}
