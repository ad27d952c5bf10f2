import { MISSING_AVATAR_PATH } from "../accounts/account.view.js";
import type { Config } from "../config/config.js";
import { DESCRIPTION_LIMIT, SUPPORTED_MIME_TYPES } from "../media/types.js";
import { INSTANCE_VERSION, PARLEY_VERSION } from "./version.js";

/**
 * The instance as Pleroma describes itself (its InstanceView `show.json`/`show2.json` and
 * Nodeinfo), with the fields each client reads: megalodon's Pleroma `getInstance()` maps
 * `max_toot_chars`, `poll_limits.*`, `urls.streaming_api` and `stats` without checks (a missing
 * object throws); Pleroma-FE's `getInstanceConfig` reads `max_toot_chars` (its chat composer's
 * limit), `approval_required`, `pleroma.vapid_public_key` and `pleroma.metadata.birthday_*`, and its
 * `getNodeInfo` reads NodeInfo 2.1's `metadata` (`features`, `uploadLimits.*`, `suggestions`,
 * `federation`, `fieldsLimits`, `pollLimits`, …: a missing object there aborts its whole setup);
 * Soapbox parses `/api/v1/instance` leniently and gates chats on `pleroma_chat_messages`, the
 * paginated chat list on the version string (./version.ts), and reads
 * `configuration.chats.max_characters`. Parley has no statuses or polls: their limits say so (0).
 */

/**
 * `pleroma_chat_messages` turns Chats on in Pleroma-FE and Soapbox; the notifications filter says
 * `include_types[]` works (how clients ask for `pleroma:chat_mention`). Pleroma's `chat` and
 * `shout` mean its Shoutbox, which Parley does not have: Pleroma-FE would open a Phoenix socket
 * at `/socket` for it.
 */
export const FEATURES = [
  "pleroma_api",
  "mastodon_api",
  "mastodon_api_streaming",
  "pleroma_chat_messages",
  "pleroma:api/v1/notifications:include_types_filter",
];

export type InstanceConfig = Pick<Config, "publicUrl" | "chatMessageLimit" | "mediaMaxBytes">;

export interface InstanceCounts {
  /** Local accounts. */
  users: number;
}

const TITLE = "Parley";
const SHORT_DESCRIPTION = "Federated one-to-one chats";
const DESCRIPTION = "Federated one-to-one chats, compatible with Pleroma Chats";
/** A chat message carries one attachment (Pleroma's rule). */
const MAX_ATTACHMENTS = 1;
const NO_POLLS = { max_options: 0, max_option_chars: 0, min_expiration: 0, max_expiration: 0 };
const NO_FIELDS = { max_fields: 0, max_remote_fields: 0, name_length: 0, value_length: 0 };

const hostOf = (config: InstanceConfig) => new URL(config.publicUrl).host;
const streamingUrl = (config: InstanceConfig) => config.publicUrl.replace(/^http/, "ws");
/** No instance picture: the grey placeholder served for accounts without an avatar (Mastodon requires a URL). */
const thumbnailUrl = (config: InstanceConfig) => `${config.publicUrl}${MISSING_AVATAR_PATH}`;

/** Mastodon's `configuration`, Pleroma's keys, plus `chats` (Soapbox's composer limit). */
function configuration(config: InstanceConfig) {
  return {
    accounts: { max_featured_tags: 0 },
    statuses: { max_characters: config.chatMessageLimit, max_media_attachments: MAX_ATTACHMENTS },
    media_attachments: {
      supported_mime_types: SUPPORTED_MIME_TYPES,
      description_limit: DESCRIPTION_LIMIT,
      image_size_limit: config.mediaMaxBytes,
      video_size_limit: config.mediaMaxBytes,
    },
    polls: {
      max_options: NO_POLLS.max_options,
      max_characters_per_option: NO_POLLS.max_option_chars,
      min_expiration: NO_POLLS.min_expiration,
      max_expiration: NO_POLLS.max_expiration,
    },
    chats: { max_characters: config.chatMessageLimit, max_media_attachments: MAX_ATTACHMENTS },
  };
}

/** Pleroma's `pleroma` block of the instance. */
function pleromaBlock(config: InstanceConfig, counts: InstanceCounts) {
  return {
    metadata: {
      account_activation_required: false,
      birthday_required: false,
      birthday_min_age: 0,
      features: FEATURES,
      federation: { enabled: true, exclusions: false },
      fields_limits: NO_FIELDS,
      post_formats: ["text/plain"],
      description_limit: DESCRIPTION_LIMIT,
      chat_limit: config.chatMessageLimit,
    },
    stats: { mau: counts.users },
    vapid_public_key: null,
  };
}

/** `GET /api/v1/instance`: Mastodon's v1 entity with Pleroma's extras. */
export function instanceV1(config: InstanceConfig, counts: InstanceCounts) {
  return {
    uri: hostOf(config),
    title: TITLE,
    short_description: SHORT_DESCRIPTION,
    description: DESCRIPTION,
    email: "",
    version: INSTANCE_VERSION,
    urls: { streaming_api: streamingUrl(config) },
    stats: { user_count: counts.users, status_count: 0, domain_count: 0 },
    thumbnail: thumbnailUrl(config),
    languages: ["en"],
    registrations: false,
    approval_required: false,
    invites_enabled: false,
    contact_account: null,
    rules: [],
    configuration: configuration(config),
    // Pleroma's extras (not in Mastodon's v1).
    max_toot_chars: config.chatMessageLimit,
    max_media_attachments: MAX_ATTACHMENTS,
    poll_limits: NO_POLLS,
    upload_limit: config.mediaMaxBytes,
    avatar_upload_limit: config.mediaMaxBytes,
    background_upload_limit: config.mediaMaxBytes,
    banner_upload_limit: config.mediaMaxBytes,
    description_limit: DESCRIPTION_LIMIT,
    chat_limit: config.chatMessageLimit,
    pleroma: pleromaBlock(config, counts),
  };
}

/** `GET /api/v2/instance`: Mastodon's v2 entity; Pleroma puts its upload and chat limits under `pleroma.metadata`. */
export function instanceV2(config: InstanceConfig, counts: InstanceCounts) {
  const pleroma = pleromaBlock(config, counts);
  return {
    domain: hostOf(config),
    title: TITLE,
    version: INSTANCE_VERSION,
    source_url: "",
    description: DESCRIPTION,
    usage: { users: { active_month: counts.users } },
    thumbnail: { url: thumbnailUrl(config) },
    icon: [],
    languages: ["en"],
    api_versions: {},
    configuration: {
      ...configuration(config),
      urls: { streaming: streamingUrl(config), status: null },
      vapid: { public_key: null },
    },
    registrations: { enabled: false, approval_required: false, message: null, url: null },
    contact: { email: "", account: null },
    rules: [],
    pleroma: {
      ...pleroma,
      metadata: {
        ...pleroma.metadata,
        avatar_upload_limit: config.mediaMaxBytes,
        background_upload_limit: config.mediaMaxBytes,
        banner_upload_limit: config.mediaMaxBytes,
      },
    },
  };
}

/** NodeInfo 2.0/2.1 with Pleroma's `metadata` (what Pleroma-FE's `getNodeInfo` reads). */
export function nodeInfo(version: "2.0" | "2.1", config: InstanceConfig, counts: InstanceCounts) {
  return {
    version,
    software: { name: "parley", version: PARLEY_VERSION },
    protocols: ["activitypub"],
    services: { inbound: [], outbound: [] },
    openRegistrations: false,
    usage: { users: { total: counts.users }, localPosts: 0 },
    metadata: {
      nodeName: hostOf(config),
      nodeDescription: DESCRIPTION,
      private: false,
      suggestions: { enabled: false },
      staffAccounts: [],
      federation: { enabled: true, exclusions: false },
      pollLimits: NO_POLLS,
      postFormats: ["text/plain"],
      uploadLimits: {
        general: config.mediaMaxBytes,
        avatar: config.mediaMaxBytes,
        banner: config.mediaMaxBytes,
        background: config.mediaMaxBytes,
      },
      fieldsLimits: { maxFields: 0, maxRemoteFields: 0, nameLength: 0, valueLength: 0 },
      accountActivationRequired: false,
      invitesEnabled: false,
      mailerEnabled: false,
      features: FEATURES,
      restrictedNicknames: [],
      skipThreadContainment: false,
      chat_limit: config.chatMessageLimit,
    },
  };
}
