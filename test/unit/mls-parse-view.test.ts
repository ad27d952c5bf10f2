import { Create } from "@fedify/vocab";
import { remoteDocumentLoader } from "../../src/federation/document-loader.js";
import { mlsParseView } from "../../src/mls/parse-view.js";
import { MLS_CONTEXT_ALIASES, MLS_CONTEXT_DOCUMENT, MLS_CONTEXT_URL } from "../../src/mls/vocabulary.js";

/**
 * What Fedify parses of an inbound MLS activity: the MLS context comes from the bundled copy (no
 * fetch), and the object gets ActivityStreams' Object among its types, since Fedify refuses an
 * object of unknown types only.
 */

// Private addresses refused: a fetch of anything would fail, so only bundled documents load.
const loader = remoteDocumentLoader({ allowPrivateAddress: false, remoteFetchTimeoutMs: 200 });

const activity = (type: unknown) => ({
  "@context": ["https://www.w3.org/ns/activitystreams", MLS_CONTEXT_URL],
  id: "https://remote.example/activities/1",
  type: "Create",
  actor: "https://remote.example/users/alice",
  to: ["https://parley.example/users/bob"],
  object: {
    id: "https://remote.example/mls/1",
    type,
    attributedTo: "https://remote.example/users/alice",
    to: ["https://parley.example/users/bob"],
    mediaType: "message/mls",
    encoding: "base64",
    content: "AAEC",
  },
});

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

it("the document loader answers the MLS context and its aliases from the bundled copy", async () => {
  for (const url of [MLS_CONTEXT_URL, ...MLS_CONTEXT_ALIASES]) {
    expect((await loader(url)).document).toEqual(MLS_CONTEXT_DOCUMENT);
  }
});

it("Fedify refuses an object of an MLS type alone, and parses the view", async () => {
  const raw = activity("PrivateMessage");
  await expect(Create.fromJsonLd(raw, { documentLoader: loader, contextLoader: loader })).rejects.toThrow(/Invalid type/);
  const view = mlsParseView(bytes(raw))!;
  expect(view.object).toMatchObject({ type: ["PrivateMessage", "https://www.w3.org/ns/activitystreams#Object"], content: "AAEC" });
  const create = await Create.fromJsonLd(view, { documentLoader: loader, contextLoader: loader });
  expect([create.actorId?.href, create.objectId?.href]).toEqual(["https://remote.example/users/alice", "https://remote.example/mls/1"]);
  // The raw activity is left as it was.
  expect(raw.object.type).toBe("PrivateMessage");
});

it("works on every spelling of the type, and on a body the bridge parsed already", () => {
  for (const type of ["mls:Welcome", `${MLS_CONTEXT_URL}#GroupInfo`, ["Object", "PublicMessage"], "KeyPackage"]) {
    expect(mlsParseView(bytes(activity(type)))?.object).toMatchObject({
      type: [...[type].flat(), "https://www.w3.org/ns/activitystreams#Object"],
    });
  }
  const parsed = { ...activity("PrivateMessage"), "@context": ["implied"] };
  expect(mlsParseView(bytes(activity("PrivateMessage")), parsed)).toMatchObject({
    "@context": ["implied"],
    object: { type: ["PrivateMessage", "https://www.w3.org/ns/activitystreams#Object"] },
  });
});

it("leaves anything else alone", () => {
  const chat = activity("ChatMessage");
  expect(mlsParseView(bytes(chat))).toBeUndefined();
  const given = { implied: true };
  expect(mlsParseView(bytes(chat), given)).toBe(given);
  // An MLS word elsewhere than in the object's type.
  expect(mlsParseView(bytes({ ...chat, summary: "Welcome" }))).toBeUndefined();
  expect(mlsParseView(bytes({ ...activity("Note"), name: "PrivateMessage" }))).toBeUndefined();
  expect(mlsParseView(new TextEncoder().encode('{"type":"PrivateMessage"'))).toBeUndefined();
});
