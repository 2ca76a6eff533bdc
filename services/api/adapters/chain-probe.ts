/**
 * The chain check of /healthz (when the API has a contracts file): one `eth_blockNumber` with a
 * short timeout, so /healthz says the node is down in 2 s while chain routes would wait out
 * viem's timeouts and retries (attack12d F4: /healthz said ok with the node frozen, and the
 * routes' hint sends the caller to /healthz). With a deployment watch it is also not ok, with
 * the watch's code, on a reset chain or without the contracts (attack10b F12: `chain` was ok on
 * an empty, reset anvil, which answers eth_blockNumber).
 */
import type { DeploymentWatch } from '../../../runtime/chain/deployment-watch.ts'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import type { HealthProbe } from '../ports.ts'

/** Short enough for a health check, long enough for a remote node under load. */
export const CHAIN_PROBE_TIMEOUT_MS = 2_000

export function createChainProbe(
  endpoint: Endpoints['chain'],
  options: { readonly timeoutMs?: number; readonly deployment?: DeploymentWatch } = {},
): HealthProbe {
  const timeoutMs = options.timeoutMs ?? CHAIN_PROBE_TIMEOUT_MS
  return {
    name: 'chain',
    async check() {
      const problem = options.deployment?.problem
      if (problem !== undefined)
        return { ok: false, code: problem.code, detail: `${problem.message}. ${problem.hint}` }
      try {
        const response = await fetch(endpoint.rpcUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }),
          signal: AbortSignal.timeout(timeoutMs),
        })
        if (!response.ok) return { ok: false, detail: `the chain node answered HTTP ${response.status}` }
        const body = (await response.json()) as { result?: unknown; error?: { message?: string } }
        if (typeof body.result !== 'string')
          return {
            ok: false,
            detail: `the chain node refused eth_blockNumber: ${body.error?.message ?? 'no result'}`,
          }
        return { ok: true }
      } catch (error) {
        const name = (error as { name?: string }).name
        return {
          ok: false,
          detail:
            name === 'TimeoutError'
              ? `the chain node did not answer eth_blockNumber in ${timeoutMs} ms`
              : `the chain node is not reachable: ${error instanceof Error ? error.message : String(error)}`,
        }
      }
    },
  }
}
