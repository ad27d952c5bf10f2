import {
  acceptAll,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type ClientState,
  type Credential,
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  type KeyPackage,
  type Lifetime,
  type MLSMessage,
  type PrivateKeyPackage,
  type Proposal,
  processMessage,
} from "ts-mls";
import { type ClientConfig, defaultClientConfig } from "ts-mls/clientConfig.js";
import { decodeKeyPackage, encodeKeyPackage } from "ts-mls/keyPackage.js";

/**
 * An MLS client for the tests, on ts-mls: one device of one actor, in at most one group. It
 * produces and consumes the AP objects Parley carries (`type`, `mediaType`, `encoding`, `content`;
 * the caller adds `to` and `attributedTo`). Commits are applied only once the caller says the
 * outbox accepted them (201), as a real client must, since the server may refuse a second Commit
 * for the same epoch (409).
 */

export const TEST_SUITE: CiphersuiteName = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

export type MlsObject = { type: string; mediaType: "message/mls"; encoding: "base64"; content: string; ciphersuite?: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const toBase64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const fromBase64 = (text: string) => new Uint8Array(Buffer.from(text, "base64"));

function mlsObject(type: string, message: MLSMessage): MlsObject {
  return { type, mediaType: "message/mls", encoding: "base64", content: toBase64(encodeMlsMessage(message)) };
}

function decodeObject(object: { content: string }): MLSMessage {
  const decoded = decodeMlsMessage(fromBase64(object.content), 0);
  if (decoded === undefined) throw new Error("not an MLSMessage");
  return decoded[0];
}

const identityOf = (credential: Credential) => (credential.credentialType === "basic" ? decoder.decode(credential.identity) : undefined);

/**
 * The binding Parley's clients check: a member's basic credential names an actor by its URL.
 * (ts-mls's default authentication service accepts any credential.)
 */
const actorBoundConfig: ClientConfig = {
  ...defaultClientConfig,
  authService: {
    async validateCredential(credential) {
      const identity = identityOf(credential);
      return identity !== undefined && /^https?:\/\/[^/]+\//.test(identity);
    },
  },
};

export type MlsClientOptions = {
  /** The identity in the credential, when a test wants one that differs from the actor. */
  identity?: string;
  /** Seconds since the epoch; ts-mls's default is "from 0 to forever". */
  lifetime?: Lifetime;
};

export type CommitObjects = { commit: MlsObject; welcome?: MlsObject };

export class MlsClient {
  /** The group as this client has applied it. */
  state?: ClientState;
  /** A Commit this client sent that the server has not yet accepted. */
  private pending?: ClientState;
  private keyPackage!: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage };

  private constructor(
    readonly actor: string,
    private readonly suite: CiphersuiteImpl,
    private readonly options: MlsClientOptions,
  ) {}

  static async create(actor: string, options: MlsClientOptions = {}): Promise<MlsClient> {
    const client = new MlsClient(actor, await getCiphersuiteImpl(getCiphersuiteFromName(TEST_SUITE)), options);
    await client.newKeyPackage();
    return client;
  }

  /** A fresh KeyPackage, as a client does after each group it joins (packages are meant for one use). */
  async newKeyPackage(): Promise<void> {
    const credential: Credential = { credentialType: "basic", identity: encoder.encode(this.options.identity ?? this.actor) };
    this.keyPackage = await generateKeyPackage(credential, defaultCapabilities(), this.options.lifetime ?? defaultLifetime, [], this.suite);
  }

  /** The current KeyPackage as an AP object: the bare RFC 9420 bytes, and the suite by name. */
  keyPackageObject(): MlsObject {
    return {
      type: "KeyPackage",
      mediaType: "message/mls",
      encoding: "base64",
      content: toBase64(encodeKeyPackage(this.keyPackage.publicPackage)),
      ciphersuite: TEST_SUITE,
    };
  }

  get epoch(): bigint | undefined {
    return this.state?.groupContext.epoch;
  }

  async createGroup(groupId: string): Promise<void> {
    const { publicPackage, privatePackage } = this.keyPackage;
    this.state = await createGroup(encoder.encode(groupId), publicPackage, privatePackage, [], this.suite, actorBoundConfig);
  }

  private group(): ClientState {
    if (this.state === undefined) throw new Error(`${this.actor} is in no group`);
    return this.state;
  }

  private async commit(extraProposals: Proposal[], publicMessage: boolean): Promise<CommitObjects> {
    // The ratchet tree travels inside the Welcome, so joiners need nothing else.
    const result = await createCommit(
      { state: this.group(), cipherSuite: this.suite },
      { extraProposals, ratchetTreeExtension: true, wireAsPublicMessage: publicMessage },
    );
    this.pending = result.newState;
    const commit = mlsObject(publicMessage ? "PublicMessage" : "PrivateMessage", result.commit);
    if (result.welcome === undefined) return { commit };
    return { commit, welcome: mlsObject("Welcome", { version: "mls10", wireformat: "mls_welcome", welcome: result.welcome }) };
  }

  /** A Commit adding the owners of these KeyPackage objects, and the Welcome for them. */
  async add(keyPackages: { content: string }[], options: { publicMessage?: boolean } = {}): Promise<CommitObjects> {
    const proposals: Proposal[] = keyPackages.map((object) => {
      const decoded = decodeKeyPackage(fromBase64(object.content), 0);
      if (decoded === undefined) throw new Error("not a bare KeyPackage");
      return { proposalType: "add", add: { keyPackage: decoded[0] } };
    });
    return this.commit(proposals, options.publicMessage ?? false);
  }

  /** A Commit removing every leaf whose credential names `actor`. */
  async remove(actor: string, options: { publicMessage?: boolean } = {}): Promise<CommitObjects> {
    const proposals: Proposal[] = [];
    this.group().ratchetTree.forEach((node, nodeIndex) => {
      // Leaves sit at the even node indexes of the array-shaped tree.
      if (node?.nodeType === "leaf" && identityOf(node.leaf.credential) === actor) {
        proposals.push({ proposalType: "remove", remove: { removed: nodeIndex / 2 } });
      }
    });
    if (proposals.length === 0) throw new Error(`${actor} is not a member`);
    return this.commit(proposals, options.publicMessage ?? false);
  }

  /** The outbox answered 201: the Commit is the group's next epoch. */
  accepted(): void {
    if (this.pending === undefined) throw new Error("no Commit pending");
    this.state = this.pending;
    this.pending = undefined;
  }

  /** The outbox answered 409: another Commit won this epoch; process that one instead. */
  rejected(): void {
    this.pending = undefined;
  }

  async join(welcome: { content: string }): Promise<void> {
    const message = decodeObject(welcome);
    if (message.wireformat !== "mls_welcome") throw new Error(`a ${message.wireformat}, not a Welcome`);
    const { publicPackage, privatePackage } = this.keyPackage;
    this.state = await joinGroup(
      message.welcome,
      publicPackage,
      privatePackage,
      emptyPskIndex,
      this.suite,
      undefined,
      undefined,
      actorBoundConfig,
    );
  }

  /** A chat message: application data is an AS2 activity whose ids are not URLs. */
  async send(text: string): Promise<MlsObject> {
    const activity = {
      type: "Create",
      id: `urn:uuid:${crypto.randomUUID()}`,
      object: { type: "Note", id: `urn:uuid:${crypto.randomUUID()}`, content: text },
    };
    const result = await createApplicationMessage(this.group(), encoder.encode(JSON.stringify(activity)), this.suite);
    this.state = result.newState;
    return mlsObject("PrivateMessage", { version: "mls10", wireformat: "mls_private_message", privateMessage: result.privateMessage });
  }

  /** The group's state for an external join, as a GroupInfo object (signed, not encrypted). */
  async groupInfoObject(): Promise<MlsObject> {
    const groupInfo = await createGroupInfoWithExternalPubAndRatchetTree(this.group(), [], this.suite);
    return mlsObject("GroupInfo", { version: "mls10", wireformat: "mls_group_info", groupInfo });
  }

  /** The decrypted AS2 activity, or undefined for a Commit or Proposal (which moves the group on). Throws if it cannot decrypt. */
  async receive(object: { content: string }): Promise<Record<string, unknown> | undefined> {
    const message = decodeObject(object);
    if (message.wireformat !== "mls_private_message" && message.wireformat !== "mls_public_message") {
      throw new Error(`a ${message.wireformat}, not a group message`);
    }
    const result = await processMessage(message, this.group(), emptyPskIndex, acceptAll, this.suite);
    this.state = result.newState;
    return result.kind === "applicationMessage" ? JSON.parse(decoder.decode(result.message)) : undefined;
  }
}
