/**
 * What Mastodon requires of a draft-cavage signature beyond Fedify's check
 * (docs/federation.md, inbox step 5): the `algorithm` label, when given, is rsa-sha256 or
 * hs2019, and the Digest carries a SHA-256 of 32 bytes. Fedify verifies with the key's own
 * algorithm whatever the label says and accepts a SHA-512-only Digest; neither weakens its check,
 * but a sender that labels or hashes otherwise is not one we interoperate with, and a refusal
 * names the reason instead of letting an odd request through. RFC 9421 signatures
 * (`Signature-Input`, `Content-Digest`) are left to Fedify.
 */
const ALGORITHMS = new Set(["rsa-sha256", "hs2019"]);

export type SignatureStrengthProblem = "unsupported_algorithm" | "digest_not_sha256";

export function signatureStrengthProblem(headers: Headers): SignatureStrengthProblem | undefined {
  const signature = headers.get("signature");
  if (signature === null || headers.has("signature-input")) return undefined;
  const algorithm = /(?:^|,)\s*algorithm\s*=\s*"([^"]*)"/i.exec(signature)?.[1];
  if (algorithm !== undefined && !ALGORITHMS.has(algorithm.toLowerCase())) return "unsupported_algorithm";
  const digest = headers.get("digest");
  // No Digest at all is Fedify's refusal (it names the missing header).
  if (digest !== null && !hasSha256(digest)) return "digest_not_sha256";
  return undefined;
}

/** `SHA-256=<base64 of 32 bytes>` among the Digest header's comma-separated entries. */
function hasSha256(digest: string): boolean {
  return digest.split(",").some((entry) => {
    const at = entry.indexOf("=");
    return at > 0 && entry.slice(0, at).trim().toLowerCase() === "sha-256" && /^[A-Za-z0-9+/]{43}=$/.test(entry.slice(at + 1).trim());
  });
}
