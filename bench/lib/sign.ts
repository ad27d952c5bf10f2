import { createHash, createPrivateKey, sign } from "node:crypto";

/** One ready-to-send HTTP request (pre-signed before a measurement). */
export interface PreparedRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
}

export const SIGNED_HEADERS = ["(request-target)", "host", "date", "digest", "content-type"];

/** Signs a POST draft-cavage rsa-sha256 the way Pleroma does (node:crypto; same wire form as http-signature). */
export function signPost(
  url: string,
  body: string,
  keyId: string,
  privateKeyPem: string | ReturnType<typeof createPrivateKey>,
): PreparedRequest {
  const target = new URL(url);
  const headers: Record<string, string> = {
    host: target.host,
    date: new Date().toUTCString(),
    digest: `SHA-256=${createHash("sha256").update(body).digest("base64")}`,
    "content-type": "application/activity+json",
  };
  const path = target.pathname + target.search;
  const signingString = SIGNED_HEADERS.map((name) =>
    name === "(request-target)" ? `(request-target): post ${path}` : `${name}: ${headers[name]}`,
  ).join("\n");
  const key = typeof privateKeyPem === "string" ? createPrivateKey(privateKeyPem) : privateKeyPem;
  const signature = sign("sha256", Buffer.from(signingString), key).toString("base64");
  headers.signature = `keyId="${keyId}",algorithm="rsa-sha256",headers="${SIGNED_HEADERS.join(" ")}",signature="${signature}"`;
  return { path, headers, body };
}
