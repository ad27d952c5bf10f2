import { exportJwk, generateCryptoKeyPair, importJwk } from "@fedify/fedify";

export type KeyAlgorithm = "RSASSA-PKCS1-v1_5" | "Ed25519";

export interface StoredKeyPair {
  algorithm: KeyAlgorithm;
  privateKey: JsonWebKey;
  publicKey: JsonWebKey;
}

/**
 * RSA-2048 (not Fedify's default 4096: that would cap signing at a fifteenth of the speed) for
 * HTTP signatures, and Ed25519 for object integrity proofs.
 */
export async function generateAccountKeys(): Promise<StoredKeyPair[]> {
  const rsa = (await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
  const ed25519 = await generateCryptoKeyPair("Ed25519");
  return Promise.all(
    [
      ["RSASSA-PKCS1-v1_5", rsa],
      ["Ed25519", ed25519],
    ].map(async ([algorithm, pair]) => ({
      algorithm: algorithm as KeyAlgorithm,
      privateKey: await exportJwk((pair as CryptoKeyPair).privateKey),
      publicKey: await exportJwk((pair as CryptoKeyPair).publicKey),
    })),
  );
}

export async function importKeyPair(stored: { privateKey: unknown; publicKey: unknown }): Promise<CryptoKeyPair> {
  return {
    privateKey: await importJwk(stored.privateKey as JsonWebKey, "private"),
    publicKey: await importJwk(stored.publicKey as JsonWebKey, "public"),
  };
}

/** Imported key pairs by account id. A local account's keys never change while it lives. */
const importedKeyPairs = new Map<string, Promise<CryptoKeyPair[]>>();
/** Bounded: one entry per local account that signs or receives; the oldest goes first. */
const KEY_CACHE_ENTRIES = 10_000;

/**
 * An account's key pairs, imported once per process (a JWK import costs more than the RSA
 * operation it serves). `load` reads the stored keys in signing order; a failed load is not kept.
 */
export function accountKeyPairs(
  accountId: string,
  load: () => Promise<{ privateKey: unknown; publicKey: unknown }[]>,
): Promise<CryptoKeyPair[]> {
  let pairs = importedKeyPairs.get(accountId);
  if (!pairs) {
    pairs = load().then((rows) => Promise.all(rows.map((row) => importKeyPair(row))));
    pairs.catch(() => importedKeyPairs.delete(accountId));
    if (importedKeyPairs.size >= KEY_CACHE_ENTRIES) importedKeyPairs.delete(importedKeyPairs.keys().next().value!);
    importedKeyPairs.set(accountId, pairs);
  }
  return pairs;
}
