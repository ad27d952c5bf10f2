import { createHash, createPrivateKey, type JsonWebKey, type KeyObject, sign } from "node:crypto";
import { and, eq } from "drizzle-orm";
import type { Executor } from "../../db/database.js";
import { accountKeys, accounts } from "../../db/schema/index.js";
import { type SafeResponse, safeFetch } from "../http-client.js";

/**
 * Signs and POSTs one activity. Draft-cavage `rsa-sha256` over
 * `(request-target) host date digest content-type`, as Pleroma and Mastodon send and verify
 * (built here with node:crypto rather than Fedify's signRequest, which signs every header present
 * and drops the query from `(request-target)`). keyId `<actor>#main-key`, the actor's RSA-2048 key.
 */

export interface Signer {
  keyId: string;
  key: KeyObject;
}

export const SIGNED_HEADERS = ["(request-target)", "host", "date", "digest", "content-type"] as const;
const CONTENT_TYPE = "application/activity+json";

/** Imported keys by account id: the import costs more than the signature. Keys never change. */
const signers = new Map<string, Signer>();
const MAX_CACHED_SIGNERS = 10_000;

export async function signerOf(db: Executor, accountId: string): Promise<Signer | null> {
  const cached = signers.get(accountId);
  if (cached) return cached;
  const [row] = await db
    .select({ uri: accounts.uri, privateKey: accountKeys.privateKey })
    .from(accountKeys)
    .innerJoin(accounts, eq(accounts.id, accountKeys.accountId))
    .where(and(eq(accountKeys.accountId, accountId), eq(accountKeys.algorithm, "RSASSA-PKCS1-v1_5")));
  if (!row) return null;
  const signer = { keyId: `${row.uri}#main-key`, key: createPrivateKey({ key: row.privateKey as JsonWebKey, format: "jwk" }) };
  if (signers.size >= MAX_CACHED_SIGNERS) signers.delete(signers.keys().next().value!);
  signers.set(accountId, signer);
  return signer;
}

/** The headers of a signed POST of `body` to `url` (a fresh Date and signature for each hop). */
export function signedHeaders(url: URL, body: string, signer: Signer, now = new Date()): Record<string, string> {
  const values: Record<(typeof SIGNED_HEADERS)[number], string> = {
    "(request-target)": `post ${url.pathname}${url.search}`,
    host: url.host,
    date: now.toUTCString(),
    digest: `SHA-256=${createHash("sha256").update(body).digest("base64")}`,
    "content-type": CONTENT_TYPE,
  };
  const signingString = SIGNED_HEADERS.map((name) => `${name}: ${values[name]}`).join("\n");
  const signature = sign("sha256", Buffer.from(signingString), signer.key).toString("base64");
  return {
    host: values.host,
    date: values.date,
    digest: values.digest,
    "content-type": CONTENT_TYPE,
    signature: `keyId="${signer.keyId}",algorithm="rsa-sha256",headers="${SIGNED_HEADERS.join(" ")}",signature="${signature}"`,
  };
}

export interface PostOptions {
  allowPrivateAddress: boolean;
  timeoutMs: number;
  connectTimeoutMs: number;
  userAgent: string;
}

export async function postActivity(inboxUrl: string, activity: unknown, signer: Signer, options: PostOptions): Promise<SafeResponse> {
  const body = JSON.stringify(activity);
  return safeFetch(inboxUrl, {
    method: "POST",
    body,
    headers: { "user-agent": options.userAgent, accept: "application/activity+json, application/ld+json, application/json" },
    allowPrivateAddress: options.allowPrivateAddress,
    timeoutMs: options.timeoutMs,
    connectTimeoutMs: options.connectTimeoutMs,
    prepare: (url, headers) => ({ ...headers, ...signedHeaders(url, body, signer) }),
  });
}
