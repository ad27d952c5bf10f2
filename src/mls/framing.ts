import { type Ciphersuite, type CiphersuiteName, getCiphersuiteFromName } from "ts-mls/crypto/ciphersuite.js";
import { decodeMlsMessage, type MLSMessage } from "ts-mls/message.js";
import type { MlsMessageType } from "./vocabulary.js";

/**
 * The clear header of an MLSMessage, read without any key: protocol version, wire format, and
 * for handshake and application messages the group id, epoch and content type (RFC 9420 keeps
 * them outside the ciphertext so that a delivery service can order messages). Hostile bytes never
 * throw: ts-mls's decoders throw on some truncations and unknown enum values, so every call is
 * wrapped and any failure becomes `bad_mls_framing`.
 */

/** The wire formats an AP object may carry, numbered as in RFC 9420, named as the AP type that should carry them. */
export const WIRE_FORMATS = { PublicMessage: 1, PrivateMessage: 2, Welcome: 3, GroupInfo: 4 } as const satisfies Record<
  MlsMessageType,
  number
>;

/** Group ids longer than this are refused: they end up in an index, and real ones are 16 to 64 bytes. */
export const MAX_GROUP_ID_BYTES = 1024;

/** Epochs above this are refused so that every accepted epoch fits a signed 64-bit column. */
const MAX_EPOCH = 2n ** 63n - 1n;

const HASH_BYTES = { "SHA-256": 32, "SHA-384": 48, "SHA-512": 64 } as const;

/**
 * Which lengths a KeyPackageRef may have: the suite's hash length, since a ref is a hash. ts-mls
 * names a suite it does not know by its number ("61453"); such a suite's hash is unknown, so any
 * hash-like length passes.
 */
function refLengthOf(cipherSuite: string): (length: number) => boolean {
  const suite = getCiphersuiteFromName(cipherSuite as CiphersuiteName) as Ciphersuite | undefined;
  if (suite === undefined) return (length) => length >= 16 && length <= 64;
  return (length) => length === HASH_BYTES[suite.hash];
}

export type ContentType = "application" | "proposal" | "commit";

type FramingCommon = {
  ok: true;
  /** The RFC 9420 wire format number (1 to 4). */
  wireFormat: number;
  /** The AP type that matches the wire format; dispatch on this, not on the object's AP type. */
  kind: MlsMessageType;
  /**
   * The AP type names another wire format (Emissary sends remove-Commits as `GroupInfo`, Bonfire
   * Proposals as `PrivateMessage`). Not refused, since implementations disagree; count it.
   */
  typeMismatch: boolean;
};

/** A PublicMessage or PrivateMessage: `groupId` is lowercase hex, `epoch` a decimal string (it is a uint64). */
export type HandshakeOrApplicationFraming = FramingCommon & {
  kind: "PublicMessage" | "PrivateMessage";
  groupId: string;
  epoch: string;
  contentType: ContentType;
};

/**
 * A Welcome: its suite (the RFC 9420 name, or the number as a decimal string for a suite ts-mls
 * does not know) and the KeyPackageRefs (lowercase hex) of the packages it consumes.
 */
export type WelcomeFraming = FramingCommon & { kind: "Welcome"; cipherSuite: string; newMembers: string[] };

/** A GroupInfo: its group context is signed but not encrypted; the suite is named as in a Welcome. */
export type GroupInfoFraming = FramingCommon & { kind: "GroupInfo"; groupId: string; epoch: string; cipherSuite: string };

export type Framing = HandshakeOrApplicationFraming | WelcomeFraming | GroupInfoFraming;

export type FramingFailure = { ok: false; reason: "bad_mls_framing"; detail: string };

export type FramingResult = Framing | FramingFailure;

export const toHex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

const malformed = (detail: string): FramingFailure => ({ ok: false, reason: "bad_mls_framing", detail });

/** The protocol version and wire format, the first four bytes, read by hand for a precise refusal. */
function readPrefix(bytes: Uint8Array): { version: number; wireFormat: number } | undefined {
  if (bytes.byteLength < 4) return undefined;
  return { version: (bytes[0] << 8) | bytes[1], wireFormat: (bytes[2] << 8) | bytes[3] };
}

/** The whole MLSMessage, or why not: it must decode and the decode must end exactly at the last byte. */
export function decodeWholeMlsMessage(bytes: Uint8Array): MLSMessage | string {
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (error) {
    return `does not decode (${error instanceof Error ? error.message.slice(0, 100) : "error"})`;
  }
  if (decoded === undefined) return "does not decode";
  if (decoded[1] !== bytes.byteLength) return `${bytes.byteLength - decoded[1]} bytes after the message`;
  return decoded[0];
}

function groupAndEpoch(groupId: Uint8Array, epoch: bigint): { groupId: string; epoch: string } | string {
  if (groupId.byteLength === 0) return "empty group_id";
  if (groupId.byteLength > MAX_GROUP_ID_BYTES) return `group_id longer than ${MAX_GROUP_ID_BYTES} bytes`;
  if (epoch > MAX_EPOCH) return "epoch above 2^63-1";
  return { groupId: toHex(groupId), epoch: epoch.toString() };
}

/**
 * Reads the framing of the bytes of an MLS message object whose AP type is `apType`. The AP type
 * only sets `typeMismatch`; a KeyPackage (wire format 5) is refused here, it has its own checker.
 */
export function readFraming(bytes: Uint8Array, apType: MlsMessageType): FramingResult {
  try {
    return readFramingOrThrow(bytes, apType);
  } catch (error) {
    // Every decoder call is already guarded; this net catches what reading the decoded value might still throw.
    return malformed(`unreadable (${error instanceof Error ? error.message.slice(0, 100) : "error"})`);
  }
}

function readFramingOrThrow(bytes: Uint8Array, apType: MlsMessageType): FramingResult {
  const prefix = readPrefix(bytes);
  if (prefix === undefined) return malformed("shorter than an MLSMessage header");
  if (prefix.version !== 1) return malformed(`protocol version ${prefix.version}, expected 1 (mls10)`);
  if (prefix.wireFormat < 1 || prefix.wireFormat > 4) {
    return malformed(prefix.wireFormat === 5 ? "a KeyPackage where a message was expected" : `unknown wire format ${prefix.wireFormat}`);
  }
  const message = decodeWholeMlsMessage(bytes);
  if (typeof message === "string") return malformed(message);
  const wireFormat = prefix.wireFormat;
  const common = (kind: MlsMessageType) => ({ ok: true as const, wireFormat, kind, typeMismatch: kind !== apType });

  switch (message.wireformat) {
    case "mls_private_message": {
      const { groupId, epoch, contentType } = message.privateMessage;
      const header = groupAndEpoch(groupId, epoch);
      if (typeof header === "string") return malformed(header);
      return { ...common("PrivateMessage"), kind: "PrivateMessage", ...header, contentType };
    }
    case "mls_public_message": {
      const { groupId, epoch, contentType } = message.publicMessage.content;
      const header = groupAndEpoch(groupId, epoch);
      if (typeof header === "string") return malformed(header);
      // RFC 9420 forbids application data in a PublicMessage: it would travel in the clear.
      if (contentType === "application") return malformed("application data in a PublicMessage");
      return { ...common("PublicMessage"), kind: "PublicMessage", ...header, contentType };
    }
    case "mls_welcome": {
      const { cipherSuite, secrets } = message.welcome;
      if (secrets.length === 0) return malformed("a Welcome for nobody");
      const refLength = refLengthOf(cipherSuite);
      if (secrets.some((s) => !refLength(s.newMember.byteLength))) return malformed("a new_member that is no KeyPackageRef of its suite");
      return { ...common("Welcome"), kind: "Welcome", cipherSuite, newMembers: secrets.map((s) => toHex(s.newMember)) };
    }
    case "mls_group_info": {
      const { groupId, epoch, cipherSuite } = message.groupInfo.groupContext;
      const header = groupAndEpoch(groupId, epoch);
      if (typeof header === "string") return malformed(header);
      return { ...common("GroupInfo"), kind: "GroupInfo", ...header, cipherSuite };
    }
    default:
      return malformed("a KeyPackage where a message was expected");
  }
}
