import { checkMlsObject } from "../../src/mls/checks.js";
import { readFraming } from "../../src/mls/framing.js";
import { checkKeyPackageBytes } from "../../src/mls/key-package.js";
import { MlsClient, type MlsObject, TEST_SUITE } from "../helpers/mls-client.js";

const ALICE = "https://a.example/users/alice";
const BOB = "https://b.example/users/bob";
const PUBLIC = "https://www.w3.org/ns/activitystreams#Public";

/** A KeyPackage object as its owner publishes it. */
const published = (object: MlsObject, actor: string): Record<string, unknown> => ({ ...object, attributedTo: actor, to: PUBLIC });

const bytesOf = (object: { content: string }) => new Uint8Array(Buffer.from(object.content, "base64"));
const withBytes = (object: Record<string, unknown>, bytes: Uint8Array) => ({ ...object, content: Buffer.from(bytes).toString("base64") });

/** The checked KeyPackage, or the reason it was refused. */
async function checkKeyPackageObject(object: unknown, actor: string) {
  const result = await checkMlsObject(object, actor);
  if (!result.ok) return result;
  if (!("keyPackage" in result)) throw new Error("not checked as a KeyPackage");
  return result.keyPackage;
}

const reasonOf = async (object: unknown, actor: string) => {
  const result = await checkKeyPackageObject(object, actor);
  return result.ok ? "ok" : result.reason;
};

let alice: MlsClient;
let bob: MlsClient;
beforeAll(async () => {
  [alice, bob] = await Promise.all([MlsClient.create(ALICE), MlsClient.create(BOB)]);
});

it("accepts a valid KeyPackage; its ref is the one the Welcome names after it is added", async () => {
  const object = published(bob.keyPackageObject(), BOB);
  const checked = await checkKeyPackageObject(object, BOB);
  expect(checked).toMatchObject({ ok: true, cipherSuite: TEST_SUITE, ref: expect.stringMatching(/^[0-9a-f]{64}$/) });
  if (!checked.ok) throw new Error("refused");
  expect(checked.bare).toEqual(bytesOf(object as MlsObject));
  expect(checked.notAfter.getTime()).toBeGreaterThan(Date.now());

  await alice.createGroup("key-package-group");
  const { welcome } = await alice.add([object as MlsObject]);
  const framing = readFraming(bytesOf(welcome!), "Welcome");
  expect(framing.ok && framing.kind === "Welcome" && framing.newMembers).toEqual([checked.ref]);
});

it("accepts the MLSMessage-wrapped form too, with the same ref", async () => {
  const object = published(bob.keyPackageObject(), BOB);
  const wrapped = withBytes(object, new Uint8Array([0, 1, 0, 5, ...bytesOf(object as MlsObject)]));
  const [bare, unwrapped] = await Promise.all([checkKeyPackageObject(object, BOB), checkKeyPackageObject(wrapped, BOB)]);
  expect(unwrapped).toMatchObject({ ok: true });
  expect(unwrapped.ok && bare.ok && unwrapped.ref === bare.ref).toBe(true);
});

it("refuses a KeyPackage whose credential names another actor", async () => {
  expect(await reasonOf(published(alice.keyPackageObject(), BOB), BOB)).toBe("identity_mismatch");
  const mallory = await MlsClient.create("https://m.example/users/mallory", { identity: BOB });
  expect(await reasonOf(published(mallory.keyPackageObject(), "https://m.example/users/mallory"), "https://m.example/users/mallory")).toBe(
    "identity_mismatch",
  );
});

it("refuses a KeyPackage whose signature does not verify", async () => {
  const object = published(bob.keyPackageObject(), BOB);
  const bytes = bytesOf(object as MlsObject);
  // The KeyPackage's own signature is its last 64 bytes (Ed25519).
  const signatureFlipped = bytes.slice();
  signatureFlipped[bytes.byteLength - 10] ^= 0x01;
  expect(await reasonOf(withBytes(object, signatureFlipped), BOB)).toBe("bad_signature");
  // A byte of the init key: still decodes, no longer matches the signature.
  const initKeyFlipped = bytes.slice();
  initKeyFlipped[8] ^= 0x01;
  expect(await reasonOf(withBytes(object, initKeyFlipped), BOB)).toBe("bad_signature");
});

it("refuses bad base64, an oversize body, and bytes that are not a KeyPackage", async () => {
  const object = published(bob.keyPackageObject(), BOB);
  expect(await reasonOf({ ...object, content: `${object.content}\n` }, BOB)).toBe("bad_base64");
  expect(await reasonOf({ ...object, content: "not base64!" }, BOB)).toBe("bad_base64");
  expect(await reasonOf(withBytes(object, new Uint8Array(32 * 1024 + 1)), BOB)).toBe("too_large");
  const bytes = bytesOf(object as MlsObject);
  expect(await reasonOf(withBytes(object, new Uint8Array([...bytes, 0])), BOB)).toBe("bad_key_package");
  expect(await reasonOf(withBytes(object, bytes.subarray(0, 100)), BOB)).toBe("bad_key_package");
  expect(await reasonOf(withBytes(object, new Uint8Array([0, 2, ...bytes.subarray(2)])), BOB)).toBe("bad_key_package");
  const posingAsMessage = await checkMlsObject({ ...object, type: "PrivateMessage", to: [ALICE] }, BOB);
  expect(posingAsMessage).toMatchObject({ ok: false, reason: "bad_mls_framing", field: "content" });
});

it("refuses a `ciphersuite` property that is missing or names another suite, and a suite Parley cannot verify", async () => {
  const object = published(bob.keyPackageObject(), BOB);
  expect(await reasonOf({ ...object, ciphersuite: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256" }, BOB)).toBe("suite_mismatch");
  expect(await reasonOf({ ...object, ciphersuite: undefined }, BOB)).toBe("suite_mismatch");
  expect(await reasonOf({ ...object, ciphersuite: 1 }, BOB)).toBe("suite_mismatch");
  const bytes = bytesOf(object as MlsObject);
  expect(await reasonOf(withBytes(object, new Uint8Array([0, 1, 0x77, 0x77, ...bytes.subarray(4)])), BOB)).toBe("unsupported_suite");
});

it("refuses a KeyPackage whose lifetime does not cover now", async () => {
  const now = BigInt(Math.floor(Date.now() / 1000));
  const expired = await MlsClient.create(BOB, { lifetime: { notBefore: now - 7200n, notAfter: now - 3600n } });
  expect(await reasonOf(published(expired.keyPackageObject(), BOB), BOB)).toBe("expired");
  const early = await MlsClient.create(BOB, { lifetime: { notBefore: now + 3600n, notAfter: now + 7200n } });
  expect(await reasonOf(published(early.keyPackageObject(), BOB), BOB)).toBe("not_yet_valid");
  const slightlyEarly = await MlsClient.create(BOB, { lifetime: { notBefore: now + 60n, notAfter: now + 7200n } });
  const checked = await checkKeyPackageObject(published(slightlyEarly.keyPackageObject(), BOB), BOB);
  expect(checked).toMatchObject({ ok: true });
  expect(checked.ok && checked.notAfter.getTime()).toBe(Number(now + 7200n) * 1000);
});

it("never throws on hostile bytes", async () => {
  const base = bytesOf(bob.keyPackageObject());
  for (let i = 0; i < 300; i++) {
    const bytes = base.slice(0, Math.floor(Math.random() * (base.byteLength + 1)));
    for (let j = 0; j < 4; j++) bytes[Math.floor(Math.random() * bytes.byteLength)] = Math.floor(Math.random() * 256);
    const result = await checkKeyPackageBytes(bytes, { actor: BOB, ciphersuite: TEST_SUITE });
    expect(typeof result.ok).toBe("boolean");
  }
});

it("checks a KeyPackage in a few milliseconds (median of 100)", async () => {
  const object = published(bob.keyPackageObject(), BOB);
  await checkKeyPackageObject(object, BOB); // the suite's verifier is built once
  const times: number[] = [];
  for (let i = 0; i < 100; i++) {
    const start = performance.now();
    const result = await checkKeyPackageObject(object, BOB);
    times.push(performance.now() - start);
    expect(result.ok).toBe(true);
  }
  times.sort((a, b) => a - b);
  const median = (times[49] + times[50]) / 2;
  console.log(`KeyPackage check: median ${median.toFixed(2)} ms, p90 ${times[89].toFixed(2)} ms over 100`);
  expect(median).toBeLessThan(50);
});
