import { isMlsContextUrl, looksLikeMlsObject, MLS_CONTEXT_DOCUMENT, MLS_TYPES, mlsTypeName, mlsTypeOf } from "../../src/mls/vocabulary.js";

describe("MLS types", () => {
  it.each(MLS_TYPES.map((type) => [type]))("%s is read bare, prefixed and as a full IRI", (type) => {
    expect(mlsTypeName(type)).toBe(type);
    expect(mlsTypeName(`mls:${type}`)).toBe(type);
    expect(mlsTypeName(`https://purl.archive.org/socialweb/mls#${type}`)).toBe(type);
  });

  it("reads a string or a list, ignoring other types beside the MLS one", () => {
    expect(mlsTypeOf({ type: "PrivateMessage" })).toBe("PrivateMessage");
    expect(mlsTypeOf({ type: ["Object", "PrivateMessage"] })).toBe("PrivateMessage");
    expect(mlsTypeOf({ type: ["Object", "mls:Welcome"] })).toBe("Welcome");
    expect(mlsTypeOf({ type: "mls:KeyPackage" })).toBe("KeyPackage");
    expect(mlsTypeOf({ type: ["PrivateMessage", "mls:PrivateMessage"] })).toBe("PrivateMessage");
  });

  it("names no type for unknown, missing, look-alike or two different MLS types", () => {
    expect(mlsTypeOf({ type: "Note" })).toBeUndefined();
    expect(mlsTypeOf({})).toBeUndefined();
    expect(mlsTypeOf({ type: 3 })).toBeUndefined();
    expect(mlsTypeOf({ type: "as:PrivateMessage" })).toBeUndefined();
    expect(mlsTypeOf({ type: "privatemessage" })).toBeUndefined();
    expect(mlsTypeOf({ type: "https://example.com/ns#PrivateMessage" })).toBeUndefined();
    expect(mlsTypeOf({ type: ["Welcome", "PrivateMessage"] })).toBeUndefined();
    expect(looksLikeMlsObject({ type: ["Welcome", "PrivateMessage"] })).toBe(true);
    expect(looksLikeMlsObject({ type: "ChatMessage" })).toBe(false);
  });
});

describe("MLS context", () => {
  it("recognises the context URL and its version aliases", () => {
    for (const url of [
      "https://purl.archive.org/socialweb/mls",
      "https://purl.archive.org/socialweb/mls/",
      "https://purl.archive.org/socialweb/mls/1.0.0",
      "https://purl.archive.org/socialweb/mls/1.0",
      "https://purl.archive.org/socialweb/mls/1",
      "http://purl.archive.org/socialweb/mls",
    ]) {
      expect(isMlsContextUrl(url)).toBe(true);
    }
    expect(isMlsContextUrl("https://purl.archive.org/socialweb/mls/2")).toBe(false);
    expect(isMlsContextUrl("https://www.w3.org/ns/activitystreams")).toBe(false);
  });

  it("bundles the term map wrapped in @context, every term of the draft's 0.3.0 map present", () => {
    const terms = MLS_CONTEXT_DOCUMENT["@context"];
    expect(terms.mls).toBe("https://purl.archive.org/socialweb/mls#");
    for (const term of [...MLS_TYPES, "keyPackages", "encoding", "ciphersuite", "messages", "conversation"]) {
      expect(terms).toHaveProperty(term);
    }
    expect(terms.PrivateMessage).toEqual({ "@id": "mls:PrivateMessage", "@type": "@id" });
    expect(JSON.parse(JSON.stringify(MLS_CONTEXT_DOCUMENT))).toEqual(MLS_CONTEXT_DOCUMENT);
  });
});
