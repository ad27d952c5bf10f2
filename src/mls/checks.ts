import { checkEnvelope, ENVELOPE_REASONS, type Envelope } from "./envelope.js";
import { type Framing, readFraming } from "./framing.js";
import { type CheckedKeyPackage, checkKeyPackageBytes, KEY_PACKAGE_REASONS } from "./key-package.js";

/**
 * Everything Parley checks on an MLS object without keys, in one call: the envelope, then the
 * KeyPackage checks or the message framing depending on the type. The outbox and the inbox both
 * use it; they differ only in what they do with a refusal (422 with the reason, or a dropped
 * activity and a metric).
 */

export const MLS_REASONS = [...ENVELOPE_REASONS, ...KEY_PACKAGE_REASONS, "bad_mls_framing"] as const;

export type MlsReason = (typeof MLS_REASONS)[number];

/** The inbox's own reasons, beside checkMlsObject's (src/mls/inbound.ts). */
export const INBOUND_MLS_REASONS = ["actor_mismatch", "bad_object_id", "no_local_recipient"] as const;

export type MlsRefusal = { ok: false; reason: MlsReason; field: string; detail?: string };

export type CheckedMlsObject =
  | { ok: true; envelope: Envelope & { type: "KeyPackage" }; keyPackage: CheckedKeyPackage }
  | { ok: true; envelope: Envelope; framing: Framing };

/** Checks an MLS object (compact JSON) whose activity `actor` sent it; `now` is for KeyPackage lifetimes. */
export async function checkMlsObject(object: unknown, actor: string, now?: Date): Promise<CheckedMlsObject | MlsRefusal> {
  const envelope = checkEnvelope(object, actor);
  if (!envelope.ok) return envelope;
  if (envelope.type === "KeyPackage") {
    const ciphersuite = (object as Record<string, unknown>).ciphersuite;
    const keyPackage = await checkKeyPackageBytes(envelope.bytes, { actor, ciphersuite, now });
    if (!keyPackage.ok) return keyPackage;
    return { ok: true, envelope: { ...envelope, type: "KeyPackage" }, keyPackage };
  }
  const framing = readFraming(envelope.bytes, envelope.type);
  if (!framing.ok) return { ok: false, reason: framing.reason, field: "content", detail: framing.detail };
  return { ok: true, envelope, framing };
}
