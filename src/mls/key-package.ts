import { type CiphersuiteName, ciphersuites, getCiphersuiteFromName } from "ts-mls/crypto/ciphersuite.js";
import { type Hash, refhash } from "ts-mls/crypto/hash.js";
import { makeHashImpl } from "ts-mls/crypto/implementation/default/makeHashImpl.js";
import { makeNobleSignatureImpl } from "ts-mls/crypto/implementation/default/makeNobleSignatureImpl.js";
import type { Signature } from "ts-mls/crypto/signature.js";
import { decodeKeyPackage, encodeKeyPackage, type KeyPackage, verifyKeyPackage } from "ts-mls/keyPackage.js";
import { verifyLeafNodeSignatureKeyPackage } from "ts-mls/leafNode.js";
import { toHex } from "./framing.js";

/**
 * A KeyPackage checked without keys: the bytes decode (bare, or wrapped in an MLSMessage since the
 * draft's implementations disagree), both of its signatures verify with the key it carries, its
 * suite is the one the `ciphersuite` property names, its basic credential names the publishing
 * actor, and its lifetime covers now. None of this proves who generated it; it proves the package
 * is well-formed and bound to the actor it was published under, which is what clients rely on.
 */

export const KEY_PACKAGE_REASONS = [
  "bad_key_package",
  "unsupported_suite",
  "suite_mismatch",
  "bad_signature",
  "identity_mismatch",
  "expired",
  "not_yet_valid",
] as const;

export type KeyPackageReason = (typeof KEY_PACKAGE_REASONS)[number];

export type KeyPackageFailure = { ok: false; reason: KeyPackageReason; field: string; detail?: string };

export type CheckedKeyPackage = {
  ok: true;
  /** RFC 9420's KeyPackageRef (lowercase hex) over the bare bytes: what a Welcome names in `new_member`. */
  ref: string;
  cipherSuite: CiphersuiteName;
  /** The bare KeyPackage, unwrapped if it came as an MLSMessage. */
  bare: Uint8Array;
  /** End of the lifetime, for expiring stored packages. */
  notAfter: Date;
};

/** Clocks of the publisher and of Parley may disagree a little; a lifetime starting within this window counts as started. */
const CLOCK_SKEW_SECONDS = 300n;

/**
 * Version 1 (mls10), wire format 5 (mls_key_package), then the KeyPackage's own version 1: the
 * MLSMessage wrapper plus two bytes. Those two bytes tell a wrapped package from a bare one of
 * suite 5 (P-521), whose first four bytes are the same but whose fifth starts an init key length.
 */
const WRAPPED_PREFIX = [0, 1, 0, 5, 0, 1];

type Verifier = { signature: Signature; hash: Hash };

/**
 * One verifier per suite, created once (the first costs tens of milliseconds) and kept, failure
 * included. Only the signature scheme and the hash are built, not the whole suite: the HPKE part
 * needs optional packages Parley does not install, and a server never encrypts. This makes every
 * Ed25519 suite checkable, post-quantum KEMs included.
 */
const verifiers = new Map<CiphersuiteName, Promise<Verifier | undefined>>();

function verifierFor(name: CiphersuiteName): Promise<Verifier | undefined> {
  let verifier = verifiers.get(name);
  if (verifier === undefined) {
    const suite = getCiphersuiteFromName(name);
    verifier = makeNobleSignatureImpl(suite.signature).then(
      (signature) => ({ signature, hash: makeHashImpl(crypto.subtle, suite.hash) }),
      () => undefined,
    );
    verifiers.set(name, verifier);
  }
  return verifier;
}

function suiteName(id: number): CiphersuiteName | undefined {
  return (Object.keys(ciphersuites) as CiphersuiteName[]).find((name) => ciphersuites[name] === id);
}

const fail = (reason: KeyPackageReason, field: string, detail?: string): KeyPackageFailure =>
  detail === undefined ? { ok: false, reason, field } : { ok: false, reason, field, detail };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}

/** The bare bytes: the MLSMessage wrapper, if any, is taken off. */
function unwrap(bytes: Uint8Array): Uint8Array {
  return bytes.byteLength > WRAPPED_PREFIX.length && WRAPPED_PREFIX.every((byte, i) => bytes[i] === byte) ? bytes.subarray(4) : bytes;
}

/**
 * Decodes a bare KeyPackage that must use every byte and be canonical (re-encoding gives the same
 * bytes): the signature and the ref are computed over the re-encoding and the received bytes
 * respectively, so both must be the same thing.
 */
function decodeBare(bare: Uint8Array): KeyPackage | string {
  try {
    const decoded = decodeKeyPackage(bare, 0);
    if (decoded === undefined) return "does not decode";
    if (decoded[1] !== bare.byteLength) return `${bare.byteLength - decoded[1]} bytes after the KeyPackage`;
    if (!sameBytes(encodeKeyPackage(decoded[0]), bare)) return "not canonically encoded";
    return decoded[0];
  } catch (error) {
    return `does not decode (${error instanceof Error ? error.message.slice(0, 100) : "error"})`;
  }
}

export type KeyPackageExpectations = {
  /** The actor the package is published under: its basic credential must name it. */
  actor: string;
  /** The `ciphersuite` property of the AP object. */
  ciphersuite: unknown;
  now?: Date;
};

/** Checks the decoded `content` of a KeyPackage object. Never throws, whatever the bytes. */
export async function checkKeyPackageBytes(
  bytes: Uint8Array,
  expected: KeyPackageExpectations,
): Promise<CheckedKeyPackage | KeyPackageFailure> {
  try {
    return await checkOrThrow(bytes, expected);
  } catch (error) {
    return fail("bad_key_package", "content", `unreadable (${error instanceof Error ? error.message.slice(0, 100) : "error"})`);
  }
}

async function checkOrThrow(bytes: Uint8Array, expected: KeyPackageExpectations): Promise<CheckedKeyPackage | KeyPackageFailure> {
  const bare = unwrap(bytes);
  if (bare.byteLength < 4) return fail("bad_key_package", "content", "too short");
  const version = (bare[0] << 8) | bare[1];
  if (version !== 1) return fail("bad_key_package", "content", `protocol version ${version}, expected 1 (mls10)`);
  const suiteId = (bare[2] << 8) | bare[3];
  const cipherSuite = suiteName(suiteId);
  if (cipherSuite === undefined) return fail("unsupported_suite", "content", `cipher suite ${suiteId}`);
  if (expected.ciphersuite !== cipherSuite) {
    return fail("suite_mismatch", "ciphersuite", `the package uses ${cipherSuite}`);
  }
  const keyPackage = decodeBare(bare);
  if (typeof keyPackage === "string") return fail("bad_key_package", "content", keyPackage);
  const { leafNode } = keyPackage;
  if (leafNode.leafNodeSource !== "key_package") return fail("bad_key_package", "content", "leaf node not from a key package");
  // RFC 9420 §10.1: the init key and the leaf's encryption key must differ.
  if (sameBytes(keyPackage.initKey, leafNode.hpkePublicKey)) return fail("bad_key_package", "content", "init key reused as encryption key");

  const verifier = await verifierFor(cipherSuite);
  if (verifier === undefined) return fail("unsupported_suite", "content", `${cipherSuite} cannot be verified here`);
  let signed = false;
  try {
    signed =
      (await verifyKeyPackage(keyPackage, verifier.signature)) && (await verifyLeafNodeSignatureKeyPackage(leafNode, verifier.signature));
  } catch {
    signed = false; // a malformed public key makes WebCrypto throw
  }
  if (!signed) return fail("bad_signature", "content");

  const credential = leafNode.credential;
  if (credential.credentialType !== "basic")
    return fail("identity_mismatch", "content", `${credential.credentialType} credential, expected basic`);
  let identity: string;
  try {
    identity = new TextDecoder("utf-8", { fatal: true }).decode(credential.identity);
  } catch {
    return fail("identity_mismatch", "content", "identity is not UTF-8");
  }
  if (identity !== expected.actor) return fail("identity_mismatch", "content", `identity ${identity.slice(0, 200)}`);

  const now = BigInt(Math.floor((expected.now ?? new Date()).getTime() / 1000));
  const { notBefore, notAfter } = leafNode.lifetime;
  if (notAfter < now) return fail("expired", "content");
  if (notBefore > now + CLOCK_SKEW_SECONDS) return fail("not_yet_valid", "content");

  const ref = toHex(await refhash("MLS 1.0 KeyPackage Reference", bare, verifier.hash));
  // notAfter is a uint64 of seconds; the default lifetime is "forever" (2^63-1), beyond any Date.
  const notAfterMs = notAfter > 8_640_000_000_000n ? 8_640_000_000_000_000 : Number(notAfter) * 1000;
  return { ok: true, ref, cipherSuite, bare, notAfter: new Date(notAfterMs) };
}
