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
const DIGEST_ALGORITHMS = new Set(["md5", "sha", "sha-256", "sha-512", "unixsum", "unixcksum", "adler32", "crc32c", "id-sha-256", "id-sha-512"]);
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

function digestProblem(digest: string): string | undefined {
  for (const entry of digest.split(",")) {
    if (!entry.trim()) continue;
    const at = entry.indexOf("=");
    if (at <= 0) return "a Digest entry is not <algorithm>=<base64>";
    const algorithm = entry.slice(0, at).trim().toLowerCase();
    if (!DIGEST_ALGORITHMS.has(algorithm)) return `unknown Digest algorithm "${algorithm.slice(0, 40)}"`;
    if (!BASE64.test(entry.slice(at + 1).trim())) return `the ${algorithm} Digest is not base64`;
  }
  return undefined;
}

function checkCavage(signature: string): SignatureHeaders {
  const seen = new Set<string>();
  let keyIdHost: string | undefined;
  for (const piece of signature.split(",")) {
    if (!piece.trim()) continue;
    const match = CAVAGE_PARAMETER.exec(piece);
    if (!match) return problem("malformed_signature", "a Signature parameter is not name=\"value\"");
    const name = match[1].toLowerCase();
    const value = match[2] ?? match[3];
    if (seen.has(name)) {
      return name === "keyid"
        ? problem("multiple_key_ids", "the Signature header names more than one keyId")
        : problem("duplicate_signature_parameter", `the Signature parameter ${name} is given twice`);
    }
    seen.add(name);
    if (name === "keyid") keyIdHost = hostOf(value);
    if (name === "headers" && !value.trim().split(/\s+/).every((h) => PSEUDO_HEADERS.has(h.toLowerCase()) || HEADER_NAME.test(h))) {
      return problem("malformed_signature", "the Signature headers parameter lists something that is not a header name");
    }
    if (name === "signature" && !BASE64.test(value)) return problem("malformed_signature", "the signature is not base64");
    if ((name === "created" || name === "expires") && !EPOCH_SECONDS.test(value)) {
      return problem("malformed_signature", `the Signature ${name} parameter is not a time in seconds`);
    }
  }
  return { keyIdHost };
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
