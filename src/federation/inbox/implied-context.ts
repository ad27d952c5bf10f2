/**
 * An activity without `@context`. Pleroma reads activities as plain JSON and never looks at the
 * context, so a `Create{ChatMessage}` without one is a chat message to it (its own test fixtures
 * have none). Fedify reads JSON-LD, where a document without a context has no terms at all: the
 * actor vanishes and the POST was refused as "Missing actor.". Such a body is read the way Pleroma
 * writes its documents: ActivityStreams plus litepub's terms (ChatMessage, Emoji, capabilities…),
 * whose context every instance serves at `/schemas/litepub-0.1.jsonld` and our context loader
 * answers locally. Only the parse sees that context: the bytes whose Digest and signature are
 * checked, and the raw JSON the inbox rules read and store, are the body as received.
 */

const AS_CONTEXT = "https://www.w3.org/ns/activitystreams";

/** The context a document without one is read with (`origin`: this instance's, for its litepub copy). */
export function impliedContext(origin: string): string[] {
  return [AS_CONTEXT, `${origin}/schemas/litepub-0.1.jsonld`];
}

/**
 * The body parsed, with the implied context, when it is a JSON object without `@context`;
 * undefined otherwise (not JSON, not an object, or a context of its own, even an odd one: Fedify
 * answers those as before).
 */
export function withImpliedContext(body: Uint8Array, origin: string): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body).toString("utf8"));
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed) || "@context" in parsed) return undefined;
  return { "@context": impliedContext(origin), ...(parsed as Record<string, unknown>) };
}

interface BodyInit {
  method: string;
  headers: [string, string][];
  body: Uint8Array;
}

/**
 * A request whose `json()` is `parsed` while every byte view of it (`arrayBuffer()`, `text()`,
 * the stream) is the body as received. Fedify parses an inbox POST with `request.clone().json()`
 * and digests `request.clone().arrayBuffer()`, so the context reaches the parse and never the
 * signature check. Should Fedify ever parse the text itself, the context is simply not seen: the
 * POST is refused as before, never accepted with a body other than the one signed
 * (test/inbox-no-context.test.ts notices).
 */
export class RequestParsedAs extends Request {
  readonly #init: BodyInit;
  readonly #parsed: unknown;

  constructor(url: string, init: BodyInit, parsed: unknown) {
    super(url, { method: init.method, headers: init.headers, body: new Uint8Array(init.body) });
    this.#init = init;
    this.#parsed = parsed;
  }

  override clone(): RequestParsedAs {
    return new RequestParsedAs(this.url, this.#init, this.#parsed);
  }

  override async json(): Promise<unknown> {
    // The body is consumed as a real json() would consume it.
    await this.arrayBuffer();
    return structuredClone(this.#parsed);
  }
}
