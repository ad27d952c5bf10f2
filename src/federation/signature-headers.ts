/**
 * The headers a signature check reads (Signature, Signature-Input, Date, Digest), refused when
 * malformed or ambiguous before any signature work. Two reasons:
 *  - ambiguity: with several `keyId=` (or a parameter given twice) Fedify verifies the last one
 *    while anything reading the header first sees another; with several RFC 9421 signatures it
 *    fetches a key per label. One request, one key.
 *  - crashes: Fedify throws (a 500) on an unparsable Date, a `created`/`expires` out of the date
 *    range, a `headers` entry that is not a header name, a signature that is not base64, and a
 *    Digest entry named like an Object property (`constructor=…`).
 * Only requests that carry a signature are looked at: nothing else reads these headers.
 * signatureStrengthProblem adds Mastodon's rules for inbox POSTs, on the same parsing.
 */

export type SignatureHeaderProblem =
  | "multiple_key_ids"
  | "duplicate_signature_parameter"
  | "multiple_signatures"
  | "malformed_signature"
  | "invalid_date"
  | "malformed_digest";

export interface SignatureHeaders {
  problem?: SignatureHeaderProblem;
  /** What is wrong, for the answer's `message`. */
  detail?: string;
  /** Lower-cased host of the one keyId named (not verified: a hint, never an identity). */
  keyIdHost?: string;
}

type HeaderGetter = (name: string) => string | undefined;

/** Digest algorithms of the IANA registry (RFC 3230 and its updates); any other name is refused. */
const DIGEST_ALGORITHMS = new Set([
  "md5",
  "sha",
  "sha-256",
  "sha-512",
  "unixsum",
  "unixcksum",
  "adler32",
  "crc32c",
  "id-sha-256",
  "id-sha-512",
]);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** draft-cavage parameter: `name="value"` or `name=digits` (what Fedify's own parser reads). */
const CAVAGE_PARAMETER = /^\s*([A-Za-z][A-Za-z0-9_-]*)=(?:"([^"]*)"|([0-9]+))\s*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const PSEUDO_HEADERS = new Set(["(request-target)", "(created)", "(expires)"]);
/** Seconds since the epoch that a Date can hold (12 digits reach the year 33658). */
const EPOCH_SECONDS = /^[0-9]{1,12}$/;

const problem = (problem: SignatureHeaderProblem, detail: string): SignatureHeaders => ({ problem, detail });

export function checkSignatureHeaders(get: HeaderGetter): SignatureHeaders {
  const signature = get("signature");
  const input = get("signature-input");
  if (signature === undefined && input === undefined) return {};
  const date = get("date");
  if (date !== undefined && Number.isNaN(new Date(date).getTime())) return problem("invalid_date", "the Date header is not a date");
  const digest = get("digest");
  if (digest !== undefined) {
    const bad = digestProblem(digest);
    if (bad) return problem("malformed_digest", bad);
  }
  return input !== undefined ? checkRfc9421(input, signature) : checkCavage(signature!);
}

/** The Digest header's entries as [lower-cased algorithm, value]; null for an entry without `=`. */
function digestEntries(digest: string): ([string, string] | null)[] {
  return digest
    .split(",")
    .filter((entry) => entry.trim())
    .map((entry) => {
      const at = entry.indexOf("=");
      return at > 0 ? [entry.slice(0, at).trim().toLowerCase(), entry.slice(at + 1).trim()] : null;
    });
}

function digestProblem(digest: string): string | undefined {
  for (const entry of digestEntries(digest)) {
    if (!entry) return "a Digest entry is not <algorithm>=<base64>";
    const [algorithm, value] = entry;
    if (!DIGEST_ALGORITHMS.has(algorithm)) return `unknown Digest algorithm "${algorithm.slice(0, 40)}"`;
    if (!BASE64.test(value)) return `the ${algorithm} Digest is not base64`;
  }
  return undefined;
}

/** A draft-cavage Signature's parameters as [lower-cased name, value]; null for a malformed one. */
function cavageParameters(signature: string): ([string, string] | null)[] {
  return signature
    .split(",")
    .filter((piece) => piece.trim())
    .map((piece) => {
      const match = CAVAGE_PARAMETER.exec(piece);
      return match ? [match[1].toLowerCase(), match[2] ?? match[3]] : null;
    });
}

function checkCavage(signature: string): SignatureHeaders {
  const seen = new Set<string>();
  let keyIdHost: string | undefined;
  for (const parameter of cavageParameters(signature)) {
    if (!parameter) return problem("malformed_signature", 'a Signature parameter is not name="value"');
    const [name, value] = parameter;
    if (seen.has(name)) {
      return name === "keyid"
        ? problem("multiple_key_ids", "the Signature header names more than one keyId")
        : problem("duplicate_signature_parameter", `the Signature parameter ${name} is given twice`);
    }
    seen.add(name);
    if (name === "keyid") keyIdHost = hostOf(value);
    if (
      name === "headers" &&
      !value
        .trim()
        .split(/\s+/)
        .every((h) => PSEUDO_HEADERS.has(h.toLowerCase()) || HEADER_NAME.test(h))
    ) {
      return problem("malformed_signature", "the Signature headers parameter lists something that is not a header name");
    }
    if (name === "signature" && !BASE64.test(value)) return problem("malformed_signature", "the signature is not base64");
    if ((name === "created" || name === "expires") && !EPOCH_SECONDS.test(value)) {
      return problem("malformed_signature", `the Signature ${name} parameter is not a time in seconds`);
    }
  }
  return { keyIdHost };
}

/**
 * What Mastodon requires of a draft-cavage signature beyond Fedify's check (docs/federation.md,
 * inbox step 5): the `algorithm` label, when given, is rsa-sha256 or hs2019, and the Digest
 * carries a SHA-256 of 32 bytes. Fedify verifies with the key's own algorithm whatever the label
 * says and accepts a SHA-512-only Digest; neither weakens its check, but a sender that labels or
 * hashes otherwise is not one we interoperate with, and a refusal names the reason. RFC 9421
 * signatures (`Signature-Input`, `Content-Digest`) are left to Fedify. Read on headers that
 * checkSignatureHeaders passed (an unparsable parameter is not looked at again here).
 */
const STRONG_ALGORITHMS = new Set(["rsa-sha256", "hs2019"]);
const SHA256_DIGEST = /^[A-Za-z0-9+/]{43}=$/;

export type SignatureStrengthProblem = "unsupported_algorithm" | "digest_not_sha256";

export function signatureStrengthProblem(get: HeaderGetter): SignatureStrengthProblem | undefined {
  const signature = get("signature");
  if (signature === undefined || get("signature-input") !== undefined) return undefined;
  const algorithm = cavageParameters(signature).find((parameter) => parameter?.[0] === "algorithm")?.[1];
  if (algorithm !== undefined && !STRONG_ALGORITHMS.has(algorithm.toLowerCase())) return "unsupported_algorithm";
  const digest = get("digest");
  // No Digest at all is Fedify's refusal (it names the missing header).
  if (digest !== undefined && !digestEntries(digest).some((entry) => entry?.[0] === "sha-256" && SHA256_DIGEST.test(entry[1]))) {
    return "digest_not_sha256";
  }
  return undefined;
}

/** RFC 9421: one signature (one dictionary member), one keyid, a `created` a Date can hold. */
function checkRfc9421(input: string, signature: string | undefined): SignatureHeaders {
  const members = topLevelMembers(input);
  if (members.length > 1 || (signature !== undefined && topLevelMembers(signature).length > 1)) {
    return problem("multiple_signatures", "more than one signature (Signature-Input names several labels)");
  }
  const member = members[0] ?? "";
  const keyIds = [...member.matchAll(/;\s*keyid\s*=\s*"([^"]*)"/gi)];
  if (keyIds.length > 1) return problem("multiple_key_ids", "the Signature-Input names more than one keyid");
  for (const name of ["created", "expires"]) {
    const values = [...member.matchAll(new RegExp(`;\\s*${name}\\s*=\\s*(-?[0-9]+)`, "gi"))];
    if (values.length > 1) return problem("duplicate_signature_parameter", `the Signature-Input parameter ${name} is given twice`);
    if (values.length === 1 && !EPOCH_SECONDS.test(values[0][1])) {
      return problem("malformed_signature", `the Signature-Input ${name} parameter is not a time in seconds`);
    }
  }
  return { keyIdHost: keyIds[0] ? hostOf(keyIds[0][1]) : undefined };
}

/** Members of a structured-field dictionary: commas outside strings, parentheses and byte sequences. */
function topLevelMembers(value: string): string[] {
  const members: string[] = [];
  let depth = 0;
  let quoted = false;
  let bytes = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (bytes) {
      if (c === ":") bytes = false;
    } else if (c === '"') quoted = true;
    else if (c === ":") bytes = true;
    else if (c === "(") depth++;
    else if (c === ")") depth = Math.max(0, depth - 1);
    else if (c === "," && depth === 0) {
      members.push(value.slice(start, i));
      start = i + 1;
    }
  }
  members.push(value.slice(start));
  return members.filter((member) => member.trim() !== "");
}

function hostOf(keyId: string): string | undefined {
  try {
    const url = new URL(keyId);
    return url.protocol === "http:" || url.protocol === "https:" ? url.host.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}
