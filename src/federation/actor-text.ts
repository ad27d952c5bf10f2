/**
 * Characters of a remote actor's names that would let it look like someone else or reorder the
 * text around it in a client: bidi embeddings, overrides, isolates and marks (U+202A–202E,
 * U+2066–2069, U+200E/F, U+061C), zero-width characters (U+200B–200D, U+2060, U+FEFF) and
 * control characters (Unicode Cc).
 */
const UNSAFE = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C\u200B-\u200D\u2060\uFEFF\p{Cc}]/u;
const UNSAFE_ALL = new RegExp(UNSAFE.source, "gu");
/**
 * A zero-width joiner between two emoji (👩‍💻, 🏳️‍🌈: an emoji, maybe a skin tone or variation
 * selector, the joiner, an emoji) is part of one picture, not a hidden character.
 */
const EMOJI_JOINER = /(?<=\p{Extended_Pictographic}[\u{1F3FB}-\u{1F3FF}\uFE0F]?)\u200D(?=\p{Extended_Pictographic})/gu;
const JOINER_KEPT = "\u0000";

/** The first unsafe character of `name` as `U+XXXX`, or undefined when there is none. */
export function unsafeCharacterIn(name: string): string | undefined {
  const found = UNSAFE.exec(name)?.[0];
  return found === undefined ? undefined : `U+${found.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * `text` without unsafe characters: line breaks and tabs become spaces, the others go, emoji
 * joiners stay; then trimmed.
 */
export function withoutUnsafeCharacters(text: string): string {
  return text
    .replace(/\u0000/g, "")
    .replace(EMOJI_JOINER, JOINER_KEPT)
    .replace(/[\t\n\r\v\f\u0085]+/g, " ")
    .replace(UNSAFE_ALL, (found) => (found === JOINER_KEPT ? found : ""))
    .replace(/\u0000/g, "\u200D")
    .trim();
}
