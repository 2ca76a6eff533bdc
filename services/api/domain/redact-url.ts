/**
 * A request URL fit for the log: the values of query parameters that look like credentials are
 * replaced. Operator keys belong in a header, and the API refuses them in the query string, but
 * a caller who sends `?key=…` anyway must not find the key in the API's log (attack12b F1).
 */
const SECRET_PARAMETER =
  /^(?:key|api[-_]?key|x-api-key|token|access[-_]?token|auth|authorization|secret|password)$/i

export const REDACTED = '[redacted]'

export function redactUrl(url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const parts = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      const rawName = eq < 0 ? pair : pair.slice(0, eq)
      let name = rawName
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '))
      } catch {
        // A malformed escape is logged as sent; its value is kept out all the same below.
      }
      return SECRET_PARAMETER.test(name.trim()) ? `${rawName}=${REDACTED}` : pair
    })
  return `${url.slice(0, q)}?${parts.join('&')}`
}
