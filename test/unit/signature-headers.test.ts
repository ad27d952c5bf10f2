import { checkSignatureHeaders, signatureStrengthProblem } from "../../src/federation/signature-headers.js";

/** The signature headers refused before any signature work (src/federation/signature-headers.ts). */

const KEY = "https://Remote.Example/users/a#main-key";
const SIGNATURE = "c2lnbmF0dXJl";

/** A header getter over lower-case names, as the inbox hands it. */
const headers = (values: Record<string, string>) => (name: string) => values[name];
const cavage = (signature: string, extra: Record<string, string> = {}) => checkSignatureHeaders(headers({ signature, ...extra }));
const rfc9421 = (input: string, extra: Record<string, string> = {}) =>
  checkSignatureHeaders(headers({ "signature-input": input, signature: `sig1=:${SIGNATURE}=:`, ...extra }));

describe("draft-cavage Signature", () => {
  it("passes a well-formed header and names the keyId's host in lower case", () => {
    const signature = `keyId="${KEY}",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="${SIGNATURE}"`;
    expect(
      cavage(signature, { date: "Thu, 03 Dec 2026 10:00:00 GMT", digest: "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=" }),
    ).toEqual({
      keyIdHost: "remote.example",
    });
    // Numbers are unquoted; a keyId that is not an http(s) URL names no host.
    expect(cavage(`keyId="acct:a@b.example",created=1764756000,expires=1764756300,signature="${SIGNATURE}"`)).toEqual({
      keyIdHost: undefined,
    });
  });

  it("refuses two keyIds, whatever their case, and any other parameter given twice", () => {
    expect(cavage(`keyId="${KEY}",keyid="https://other.example/k",signature="${SIGNATURE}"`).problem).toBe("multiple_key_ids");
    expect(cavage(`keyId="${KEY}",signature="${SIGNATURE}",signature="${SIGNATURE}"`)).toMatchObject({
      problem: "duplicate_signature_parameter",
      detail: "the Signature parameter signature is given twice",
    });
  });

  it.each([
    ["a bare word", `keyId="${KEY}",oops`],
    ["a signature that is not base64", `keyId="${KEY}",signature="not base64!"`],
    ["a headers entry that is no header name", `keyId="${KEY}",headers="host (evil) da:te",signature="${SIGNATURE}"`],
    ["a created time that is not seconds", `keyId="${KEY}",created="yesterday",signature="${SIGNATURE}"`],
    ["an expires beyond what a Date holds", `keyId="${KEY}",expires=9999999999999,signature="${SIGNATURE}"`],
  ])("refuses %s as malformed_signature", (_name, signature) => {
    expect(cavage(signature).problem).toBe("malformed_signature");
  });
});

describe("RFC 9421 Signature-Input", () => {
  it("passes one signature with one keyid", () => {
    expect(rfc9421(`sig1=("@method" "@target-uri" "content-digest");created=1764756000;keyid="${KEY}";alg="rsa-v1_5-sha256"`)).toEqual({
      keyIdHost: "remote.example",
    });
  });

  it("refuses several signatures, but not a comma inside a string or the component list", () => {
    expect(rfc9421(`sig1=("@method");keyid="${KEY}", sig2=("@method");keyid="https://b.example/k"`).problem).toBe("multiple_signatures");
    expect(rfc9421(`sig1=("@method");keyid="${KEY}"`, { signature: `sig1=:${SIGNATURE}=:, sig2=:${SIGNATURE}=:` }).problem).toBe(
      "multiple_signatures",
    );
    expect(rfc9421(`sig1=("@method" "a,b");keyid="${KEY}";nonce="x,y"`).problem).toBeUndefined();
  });

  it("refuses two keyids, a created given twice, a negative created", () => {
    expect(rfc9421(`sig1=("@method");keyid="${KEY}";keyid="https://b.example/k"`).problem).toBe("multiple_key_ids");
    expect(rfc9421(`sig1=("@method");created=1;created=2;keyid="${KEY}"`).problem).toBe("duplicate_signature_parameter");
    expect(rfc9421(`sig1=("@method");created=-5;keyid="${KEY}"`).problem).toBe("malformed_signature");
  });
});

describe("Date and Digest beside a signature", () => {
  const signature = `keyId="${KEY}",signature="${SIGNATURE}"`;

  it("refuses a Date that is not a date", () => {
    expect(cavage(signature, { date: "the day before yesterday" })).toMatchObject({ problem: "invalid_date" });
  });

  it.each([
    ["no algorithm", "=abc"],
    ["an unknown algorithm", "SHA-3=abc"],
    ["a name like an Object property", "constructor=abc"],
    ["a value that is not base64", "SHA-256=not base64"],
  ])("refuses a Digest with %s", (_name, digest) => {
    expect(cavage(signature, { digest }).problem).toBe("malformed_digest");
  });

  it("looks at nothing when no signature is sent", () => {
    expect(checkSignatureHeaders(headers({ date: "nonsense", digest: "constructor=1" }))).toEqual({});
  });
});

describe("signature strength (Mastodon's rules for inbox POSTs)", () => {
  const SHA256 = "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=";
  const strength = (algorithm: string | undefined, digest: string | undefined, extra: Record<string, string> = {}) =>
    signatureStrengthProblem(
      headers({
        signature: `keyId="${KEY}",${algorithm ? `algorithm="${algorithm}",` : ""}headers="(request-target) host date digest",signature="${SIGNATURE}"`,
        ...(digest ? { digest } : {}),
        ...extra,
      }),
    );

  it("passes rsa-sha256, hs2019 (any case) or no label, with a SHA-256 Digest among others", () => {
    expect(strength("rsa-sha256", SHA256)).toBeUndefined();
    expect(strength("HS2019", `SHA-512=${"A".repeat(86)}==,${SHA256}`)).toBeUndefined();
    expect(strength(undefined, SHA256)).toBeUndefined();
    // No Digest at all is Fedify's own refusal, naming the header.
    expect(strength("rsa-sha256", undefined)).toBeUndefined();
  });

  it("refuses another algorithm label, and a Digest without a SHA-256 of 32 bytes", () => {
    expect(strength("rsa-sha1", SHA256)).toBe("unsupported_algorithm");
    expect(strength("rsa-sha256", `SHA-512=${"A".repeat(86)}==`)).toBe("digest_not_sha256");
    expect(strength("rsa-sha256", "SHA-256=c2hvcnQ=")).toBe("digest_not_sha256");
  });

  it("leaves RFC 9421 signatures and unsigned requests to Fedify", () => {
    expect(signatureStrengthProblem(headers({ digest: "SHA-512=x" }))).toBeUndefined();
    expect(strength("rsa-sha1", "SHA-512=x", { "signature-input": 'sig1=("@method");keyid="k"' })).toBeUndefined();
  });
});
