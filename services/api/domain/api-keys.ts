/**
 * Operator API keys. A presented key is compared with every configured key in constant time
 * (fixed-length digests, no early exit), so neither the response time nor its variation tells
 * how much of a key was right or which client it belongs to.
 */
import { createHash, timingSafeEqual } from 'node:crypto'

export interface ApiKey {
  readonly clientId: string
  readonly key: string
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest()

/** Returns the client id of the key presented, or undefined. */
export function createKeyMatcher(
  keys: readonly ApiKey[],
): (presented: string | undefined) => string | undefined {
  const digests = keys.map((k) => ({ clientId: k.clientId, digest: digest(k.key) }))
  return (presented) => {
    if (presented === undefined || presented === '') return undefined
    const candidate = digest(presented)
    let match: string | undefined
    for (const entry of digests) {
      if (timingSafeEqual(candidate, entry.digest) && match === undefined) match = entry.clientId
    }
    return match
  }
}

/** Two different keys in one request (x-api-key and a bearer token): neither is taken. */
export const CONFLICTING_KEYS: unique symbol = Symbol('conflicting keys')

/**
 * The key from `x-api-key` or `Authorization: Bearer <key>` (the scheme in any case: RFC 7235).
 * Both with the same key is that key; with different keys it is CONFLICTING_KEYS, never the one
 * header that wins (attack12e F9: x-api-key won, so a right one beside a wrong bearer passed).
 */
export function presentedKey(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): string | undefined | typeof CONFLICTING_KEYS {
  const header = headers['x-api-key']
  const apiKey = typeof header === 'string' ? header : undefined
  const authorization = headers.authorization
  const bearer =
    typeof authorization === 'string' && /^bearer /i.test(authorization)
      ? authorization.slice(7).trim()
      : undefined
  if (apiKey !== undefined && bearer !== undefined && apiKey !== bearer) return CONFLICTING_KEYS
  return apiKey ?? bearer
}
