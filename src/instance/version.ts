/**
 * What Parley calls itself. Clients turn Pleroma's chat features on from the instance's `version`
 * string (docs/decisions/0002-version-string.md):
 *
 *   "2.7.2 (compatible; Pleroma 2.7.2+parley.0.1.0)"
 *
 * Soapbox reads `<Mastodon API level> (compatible; <software> <semver>)`: the software must be
 * the one word "Pleroma" for `chatsV2` (and every other Pleroma gate) and the version after it a
 * valid semver, or its parser throws; the semver's build part (`parley`) names Parley without
 * matching any fork Soapbox knows (`soapbox`, `akkoma`, `glitch`). NodeInfo keeps the plain
 * name `parley`, which Pleroma-FE and megalodon show or match on.
 */
export const PARLEY_VERSION = "0.1.0";

/** The Mastodon API level Pleroma reports (`@mastodon_api_level` of its InstanceView). */
export const MASTODON_API_LEVEL = "2.7.2";

/** The Pleroma release whose client API Parley's chat API follows. */
export const PLEROMA_API_VERSION = "2.7.2";

export const INSTANCE_VERSION = `${MASTODON_API_LEVEL} (compatible; Pleroma ${PLEROMA_API_VERSION}+parley.${PARLEY_VERSION})`;
