// Joyent's http-signature ships no types (and @types/http-signature lacks authorizationHeaderName).
declare module "http-signature" {
  import type { ClientRequest, IncomingMessage } from "node:http";

  export interface SignOptions {
    keyId: string;
    key: string | Buffer;
    algorithm?: string;
    headers?: string[];
    /** "Signature" for ActivityPub; the default is `Authorization: Signature …`. */
    authorizationHeaderName?: string;
  }
  export interface ParsedSignature {
    scheme: string;
    params: Record<string, string>;
    signingString: string;
    algorithm: string;
    keyId: string;
  }

  export function signRequest(request: ClientRequest, options: SignOptions): boolean;
  export function parseRequest(request: IncomingMessage, options?: Record<string, unknown>): ParsedSignature;
  export function verifySignature(parsed: ParsedSignature, publicKeyPem: string | Buffer): boolean;

  const httpSignature: {
    signRequest: typeof signRequest;
    parseRequest: typeof parseRequest;
    verifySignature: typeof verifySignature;
  };
  export default httpSignature;
}
