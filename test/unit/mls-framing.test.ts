import fc from "fast-check";
import { checkMlsObject } from "../../src/mls/checks.js";
import { type FramingResult, readFraming } from "../../src/mls/framing.js";
import type { MlsMessageType } from "../../src/mls/vocabulary.js";
import { MlsClient, type MlsObject } from "../helpers/mls-client.js";

const ALICE = "https://a.example/users/alice";
const BOB = "https://b.example/users/bob";
const CAROL = "https://b.example/users/carol";

const bytesOf = (object: MlsObject) => new Uint8Array(Buffer.from(object.content, "base64"));
const framingOf = (object: MlsObject, apType = object.type as MlsMessageType) => readFraming(bytesOf(object), apType);
const hex = (text: string) => Buffer.from(text).toString("hex");

/** Real objects of every kind, from one group's life. */
type Samples = {
  addCommit: MlsObject;
  welcome: MlsObject;
  firstMessage: MlsObject;
  removeCommit: MlsObject;
  secondMessage: MlsObject;
  publicCommit: MlsObject;
  groupInfo: MlsObject;
  wrappedKeyPackage: Uint8Array;
};
let samples: Samples;

beforeAll(async () => {
  const [alice, bob, carol] = await Promise.all([MlsClient.create(ALICE), MlsClient.create(BOB), MlsClient.create(CAROL)]);
  await alice.createGroup("framing-group");
  const { commit: addCommit, welcome } = await alice.add([bob.keyPackageObject(), carol.keyPackageObject()]);
  alice.accepted();
  await bob.join(welcome!);
  const firstMessage = await alice.send("one");
  await bob.receive(firstMessage);
  const { commit: removeCommit } = await alice.remove(CAROL);
  alice.accepted();
  await bob.receive(removeCommit);
  const secondMessage = await bob.send("two");
  const { commit: publicCommit } = await alice.remove(BOB, { publicMessage: true });
  const groupInfo = await alice.groupInfoObject();
  // A KeyPackage in the MLSMessage wrapper: version 1, wire format 5, then the bare bytes.
  const wrappedKeyPackage = new Uint8Array([0, 1, 0, 5, ...bytesOf(carol.keyPackageObject())]);
  samples = { addCommit, welcome: welcome!, firstMessage, removeCommit, secondMessage, publicCommit, groupInfo, wrappedKeyPackage };
});

describe("readFraming of real objects", () => {
  it("reads a PrivateMessage Commit, then application data one epoch later", () => {
    expect(framingOf(samples.addCommit)).toEqual({
      ok: true,
      wireFormat: 2,
      kind: "PrivateMessage",
      typeMismatch: false,
      groupId: hex("framing-group"),
      epoch: "0",
      contentType: "commit",
    });
    expect(framingOf(samples.firstMessage)).toMatchObject({ kind: "PrivateMessage", epoch: "1", contentType: "application" });
    expect(framingOf(samples.removeCommit)).toMatchObject({ epoch: "1", contentType: "commit" });
    expect(framingOf(samples.secondMessage)).toMatchObject({ epoch: "2", contentType: "application", groupId: hex("framing-group") });
  });

  it("reads a PublicMessage Commit in the clear", () => {
    expect(framingOf(samples.publicCommit)).toEqual({
      ok: true,
      wireFormat: 1,
      kind: "PublicMessage",
      typeMismatch: false,
      groupId: hex("framing-group"),
      epoch: "2",
      contentType: "commit",
    });
  });

  it("reads a Welcome's suite and the KeyPackageRefs of its new members", () => {
    const framing = framingOf(samples.welcome);
    expect(framing).toMatchObject({
      ok: true,
      wireFormat: 3,
      kind: "Welcome",
      cipherSuite: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
    });
    expect(framing.ok && framing.kind === "Welcome" && framing.newMembers).toEqual([
      expect.stringMatching(/^[0-9a-f]{64}$/),
      expect.any(String),
    ]);
  });

  it("reads a GroupInfo's group and epoch", () => {
    expect(framingOf(samples.groupInfo)).toMatchObject({
      ok: true,
      wireFormat: 4,
      kind: "GroupInfo",
      groupId: hex("framing-group"),
      epoch: "2",
    });
  });

  it("flags, without refusing, an AP type that names another wire format", () => {
    expect(framingOf(samples.removeCommit, "GroupInfo")).toMatchObject({ ok: true, kind: "PrivateMessage", typeMismatch: true });
    expect(framingOf(samples.publicCommit, "PrivateMessage")).toMatchObject({ ok: true, kind: "PublicMessage", typeMismatch: true });
    expect(framingOf(samples.welcome, "PrivateMessage")).toMatchObject({ ok: true, kind: "Welcome", typeMismatch: true });
  });

  it("runs after the envelope in checkMlsObject, a refusal naming `content`", async () => {
    const object = { ...samples.firstMessage, attributedTo: ALICE, to: [BOB] };
    expect(await checkMlsObject(object, ALICE)).toMatchObject({
      ok: true,
      envelope: { type: "PrivateMessage", recipients: [BOB] },
      framing: { kind: "PrivateMessage", epoch: "1", contentType: "application" },
    });
    const truncated = { ...object, content: Buffer.from(bytesOf(samples.firstMessage).subarray(0, 60)).toString("base64") };
    expect(await checkMlsObject(truncated, ALICE)).toMatchObject({ ok: false, reason: "bad_mls_framing", field: "content" });
    expect(await checkMlsObject({ ...object, to: "as:Public" }, ALICE)).toMatchObject({ ok: false, reason: "public_not_allowed" });
  });
});

/** A hand-made Welcome: suite, new members' refs, each with an empty HPKE ciphertext, an empty group info. */
function welcome(suite: number, refs: Uint8Array[]): Uint8Array {
  const secrets = refs.flatMap((ref) => [ref.byteLength, ...ref, 0, 0]);
  return new Uint8Array([0, 1, 0, 3, suite >> 8, suite & 0xff, secrets.length, ...secrets, 0]);
}

it("names a suite the decoder does not know by its number, and accepts any hash-sized ref there", () => {
  expect(readFraming(welcome(0xf00d, [new Uint8Array(20).fill(0xab)]), "Welcome")).toEqual({
    ok: true,
    wireFormat: 3,
    kind: "Welcome",
    typeMismatch: false,
    cipherSuite: String(0xf00d),
    newMembers: ["ab".repeat(20)],
  });
  expect(readFraming(welcome(1, [new Uint8Array(32)]), "Welcome")).toMatchObject({ ok: true, newMembers: ["00".repeat(32)] });
});

describe("readFraming refuses malformed bytes", () => {
  const refusal = (bytes: Uint8Array) => {
    const result = readFraming(bytes, "PrivateMessage");
    return result.ok ? "accepted" : `${result.reason}: ${result.detail}`;
  };

  it.each([
    ["nothing", () => new Uint8Array(0), /shorter/],
    ["a byte after the message", () => new Uint8Array([...bytesOf(samples.firstMessage), 0]), /1 bytes after/],
    ["a truncated message", () => bytesOf(samples.firstMessage).subarray(0, 50), /does not decode/],
    ["protocol version 2", () => new Uint8Array([0, 2, ...bytesOf(samples.firstMessage).subarray(2)]), /protocol version 2/],
    ["wire format 0", () => new Uint8Array([0, 1, 0, 0, 1, 2, 3]), /unknown wire format 0/],
    ["wire format 6", () => new Uint8Array([0, 1, 0, 6, 1, 2, 3]), /unknown wire format 6/],
    ["a wrapped KeyPackage", () => samples.wrappedKeyPackage, /KeyPackage where a message/],
    ["a Welcome for nobody", () => welcome(1, []), /for nobody/],
    ["a Welcome whose new member is no ref", () => welcome(1, [new Uint8Array(0)]), /no KeyPackageRef/],
    ["a Welcome with a 20-byte ref in a SHA-256 suite", () => welcome(1, [new Uint8Array(20)]), /no KeyPackageRef/],
  ])("%s", (_name, bytes, detail) => {
    const result = refusal(bytes());
    expect(result).toMatch(/^bad_mls_framing: /);
    expect(result).toMatch(detail);
  });

  it("refuses every truncation of every real object", () => {
    for (const object of [samples.addCommit, samples.welcome, samples.firstMessage, samples.publicCommit, samples.groupInfo]) {
      const bytes = bytesOf(object);
      for (let length = 0; length < bytes.byteLength; length++) {
        expect(readFraming(bytes.subarray(0, length), "PrivateMessage").ok).toBe(false);
      }
    }
  });
});

describe("readFraming never throws on hostile bytes", () => {
  const wellFormed = (result: FramingResult) => (result.ok ? typeof result.kind === "string" : result.reason === "bad_mls_framing");

  it("random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => wellFormed(readFraming(bytes, "PrivateMessage"))),
      { numRuns: 2000 },
    );
  });

  it("random bytes behind a valid header of each wire format", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.uint8Array({ maxLength: 1024 }), (wireFormat, tail) =>
        wellFormed(readFraming(new Uint8Array([0, 1, 0, wireFormat, ...tail]), "Welcome")),
      ),
      { numRuns: 3000 },
    );
  });

  it("real objects with bytes changed at random", () => {
    const originals = [samples.addCommit, samples.welcome, samples.firstMessage, samples.publicCommit, samples.groupInfo].map(bytesOf);
    fc.assert(
      fc.property(
        fc.constantFrom(...originals),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        (original, changes) => {
          const bytes = original.slice();
          for (const [position, value] of changes) bytes[position % bytes.byteLength] = value;
          return wellFormed(readFraming(bytes, "PrivateMessage"));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
