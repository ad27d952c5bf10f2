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
