/**
 * The MLS-over-ActivityPub vocabulary: its JSON-LD context (URL and a bundled copy, so that parsing
 * an inbound MLS activity never needs the network) and the five object types, read from compact
 * JSON in any of the spellings seen in the wild.
 */

/** The context URL senders put after the ActivityStreams one. */
export const MLS_CONTEXT_URL = "https://purl.archive.org/socialweb/mls";

/** The namespace behind the `mls:` prefix. */
export const MLS_NAMESPACE = `${MLS_CONTEXT_URL}#`;

/**
 * The versioned aliases of the context: `1.0.0` never changes, `1.0` only receives fixes, `1`
 * may gain terms. All of them resolve to the same term map today.
 */
export const MLS_CONTEXT_ALIASES = [`${MLS_CONTEXT_URL}/1.0.0`, `${MLS_CONTEXT_URL}/1.0`, `${MLS_CONTEXT_URL}/1`] as const;

/** Whether a context URL names the MLS context (the base URL or an alias; a trailing slash or http is tolerated). */
export function isMlsContextUrl(url: string): boolean {
  const normalised = url.replace(/^http:\/\//, "https://").replace(/\/+$/, "");
  return normalised === MLS_CONTEXT_URL || (MLS_CONTEXT_ALIASES as readonly string[]).includes(normalised);
}

/**
 * The context document (version 0.3.0 of the draft's term map), wrapped in `@context` as a JSON-LD
 * loader must return it: the draft publishes a bare term map. Every term but the two plain
 * properties is declared `@id`-typed, the class names and `ciphersuite` included; that is why
 * Parley reads MLS objects as compact JSON and never expands them (an expanded `ciphersuite` would
 * turn into an IRI).
 */
export const MLS_CONTEXT_DOCUMENT = {
  "@context": {
    mls: MLS_NAMESPACE,
    keyPackages: "mls:keyPackages",
    encoding: "mls:encoding",
    KeyPackage: { "@id": "mls:KeyPackage", "@type": "@id" },
    Welcome: { "@id": "mls:Welcome", "@type": "@id" },
    GroupInfo: { "@id": "mls:GroupInfo", "@type": "@id" },
    PublicMessage: { "@id": "mls:PublicMessage", "@type": "@id" },
    PrivateMessage: { "@id": "mls:PrivateMessage", "@type": "@id" },
    ciphersuite: { "@id": "mls:ciphersuite", "@type": "@id" },
    messages: { "@id": "mls:messages", "@type": "@id" },
    conversation: { "@id": "mls:conversation", "@type": "@id" },
  },
} as const;

/** The five object types, KeyPackage first. */
export const MLS_TYPES = ["KeyPackage", "Welcome", "GroupInfo", "PublicMessage", "PrivateMessage"] as const;

export type MlsType = (typeof MLS_TYPES)[number];

/** The four types that carry an MLSMessage (everything but a KeyPackage). */
export type MlsMessageType = Exclude<MlsType, "KeyPackage">;

/** A single type string as an MLS type: `PrivateMessage`, `mls:PrivateMessage` or the full IRI. */
export function mlsTypeName(type: string): MlsType | undefined {
  const local = type.startsWith(MLS_NAMESPACE) ? type.slice(MLS_NAMESPACE.length) : type.startsWith("mls:") ? type.slice(4) : type;
  return (MLS_TYPES as readonly string[]).includes(local) ? (local as MlsType) : undefined;
}

/** The type strings of an object, whether `type` is a string or a list. */
export function typeStringsOf(object: Record<string, unknown>): string[] {
  return [object.type].flat().filter((t): t is string => typeof t === "string");
}

/**
 * The MLS type of an object, or undefined when it names none, or two different ones (an object
 * cannot be both a Welcome and a PrivateMessage). Other types beside it (`["Object",
 * "PrivateMessage"]`) are ignored.
 */
export function mlsTypeOf(object: Record<string, unknown>): MlsType | undefined {
  const found = new Set(
    typeStringsOf(object)
      .map(mlsTypeName)
      .filter((t): t is MlsType => t !== undefined),
  );
  return found.size === 1 ? [...found][0] : undefined;
}

/** Whether an object means to be an MLS object, in any spelling (so that the MLS rules apply to it). */
export function looksLikeMlsObject(object: Record<string, unknown>): boolean {
  return typeStringsOf(object).some((t) => mlsTypeName(t) !== undefined);
}
