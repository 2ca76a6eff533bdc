/**
 * A request URL fit for the log. Operator keys belong in a header, and the API refuses them in
 * the query string, but a caller who sends one there anyway must not find it in the API's log
 * (attack12b F1). Redacting by credential-like names let every other spelling through
 * (`?foo=<key>`, `?api_key[]=…`: attack12d F1), so it goes the other way: a value is logged only
 * under a parameter some route declares, and only when it is not a configured key. Every other
 * value is `[redacted]`; a name is logged as sent unless it is itself a key. A path segment that
 * is a key, or holds one beside `=`, `:`, `;`, `,` or a space (`/key=<key>`, `/Bearer <key>`), is
 * `[redacted]` too (attack issue 12 F7: a key in the path reached the log); the ids and hashes of
 * the routes' paths are never a key, so they stay readable.
 */
export const REDACTED = '[redacted]'

export interface RedactRules {
  /** The query parameter names the routes declare (their values are worth logging). */
  readonly declared: ReadonlySet<string>
  /** Whether a decoded value (or name) is a configured operator key. */
  readonly isKey: (text: string) => boolean
}

function decoded(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' ')).trim()
  } catch {
    // A malformed escape cannot equal a key as sent; it is compared (and logged) raw.
    return raw
  }
}

/** Where a key could sit in one path segment: the segment, or a piece of it between separators. */
const SEGMENT_SEPARATORS = /[\s=:;,&]+/

function redactPath(path: string, rules: RedactRules): string {
  return path
    .split('/')
    .map((raw) => {
      if (raw === '') return raw
      const segment = decoded(raw)
      const holdsKey =
        rules.isKey(segment) || segment.split(SEGMENT_SEPARATORS).some((piece) => rules.isKey(piece))
      return holdsKey ? REDACTED : raw
    })
    .join('/')
}

export function redactUrl(url: string, rules: RedactRules): string {
  const q = url.indexOf('?')
  if (q < 0) return redactPath(url, rules)
  const parts = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      if (pair === '') return pair
      const eq = pair.indexOf('=')
      const rawName = eq < 0 ? pair : pair.slice(0, eq)
      const name = decoded(rawName)
      if (rules.isKey(name)) return `${REDACTED}=${REDACTED}`
      const value = eq < 0 ? '' : decoded(pair.slice(eq + 1))
      return rules.declared.has(name) && !rules.isKey(value) ? pair : `${rawName}=${REDACTED}`
    })
  return `${redactPath(url.slice(0, q), rules)}?${parts.join('&')}`
}
