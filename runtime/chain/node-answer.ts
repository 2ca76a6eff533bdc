/**
 * Whether a failed chain read was answered by the node. A revert is the chain's answer (the
 * contract said no); a refused connection, a timeout or an HTTP error status in place of a
 * JSON-RPC answer means the node was not reached, and says nothing about the contract. Callers
 * that turn a read into a verdict (verify's CHAIN_PROOF) or an HTTP status must tell them apart:
 * attack12d F2 found a frozen node reported as "does not verify".
 */
import {
  ContractFunctionRevertedError,
  HttpRequestError,
  SocketClosedError,
  TimeoutError,
  WebSocketRequestError,
} from 'viem'

export type ChainFailure = 'reverted' | 'unreachable' | 'other'

/** Node's socket-level codes for "the peer was not reachable". */
const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
])

/** Causes followed below the error (viem nests a transport error three deep). */
const MAX_DEPTH = 8

/**
 * What a thrown chain read says of the node: `reverted` (it answered, the call reverted),
 * `unreachable` (no answer: connection, timeout, HTTP status), `other` (anything else: a bug, no
 * contract at the address).
 *
 * @example
 *   if (chainFailure(error) === 'unreachable') throw new ChainUnavailableError(error)
 */
export function chainFailure(error: unknown): ChainFailure {
  let at: unknown = error
  for (let depth = 0; depth <= MAX_DEPTH && typeof at === 'object' && at !== null; depth++) {
    if (at instanceof ContractFunctionRevertedError) return 'reverted'
    if (
      at instanceof HttpRequestError ||
      at instanceof TimeoutError ||
      at instanceof WebSocketRequestError ||
      at instanceof SocketClosedError
    )
      return 'unreachable'
    const { code, name } = at as { code?: unknown; name?: unknown }
    if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || code === 'CHAIN_UNAVAILABLE'))
      return 'unreachable'
    if (name === 'AbortError' || name === 'TimeoutError') return 'unreachable'
    at = (at as { cause?: unknown }).cause
  }
  return 'other'
}
