/**
 * The chain node behind the API's breaker (domain/upstream-breaker.ts), as InfluxDB is: while
 * its /healthz check fails, every route that reads the chain (holder positions and proofs, the
 * auditor's pools, epochs and verify, /operator/epochs' on-chain state) answers 503
 * UPSTREAM_UNAVAILABLE at once, instead of each waiting out viem's timeouts and retries
 * (attack issue 12 F2: ~30 s per request with the node SIGSTOPped, /healthz knew in 2 s).
 * The check opens the breaker, and so does a chain read that got no answer when the check then
 * fails too; while open the check runs every second and closes it on the first success.
 */
import { RetryableError } from '../../../core/errors/base.ts'
import type { AuditReader, EpochChainReader, HealthProbe, HolderReader } from '../ports.ts'
import { createUpstreamBreaker, type UpstreamBreaker } from './upstream-breaker.ts'

/** How often the check runs while the breaker is open. */
const RECOVERY_PROBE_MS = 1_000

export interface ChainPorts {
  readonly chain?: EpochChainReader
  readonly holders?: HolderReader
  readonly auditor?: AuditReader
}

export interface GuardedChain {
  /** The same ports, each chain read admitted by the breaker first. */
  readonly ports: ChainPorts
  /** The /healthz check, which opens and closes the breaker as it fails and passes. */
  readonly probe: HealthProbe
  readonly breaker: UpstreamBreaker
  /** Ends the recovery checks (the server stops). */
  stop(): void
}

export function guardChainPorts(
  ports: ChainPorts,
  check: HealthProbe,
  options: { readonly recoveryProbeMs?: number; readonly now?: () => number } = {},
): GuardedChain {
  const breaker = createUpstreamBreaker({
    upstream: 'the chain node',
    ...(options.now === undefined ? {} : { now: options.now }),
  })
  let recovery: ReturnType<typeof setInterval> | undefined
  let probing = false
  const probe: HealthProbe = {
    name: check.name,
    async check() {
      const result = await check.check()
      if (result.ok) {
        breaker.up()
        if (recovery !== undefined) clearInterval(recovery)
        recovery = undefined
      } else {
        breaker.down(
          result.code === undefined
            ? (result.detail ?? 'no answer')
            : `${result.code}: ${result.detail ?? ''}`,
        )
        recovery ??= setInterval(() => {
          if (probing) return
          probing = true
          void probe.check().finally(() => {
            probing = false
          })
        }, options.recoveryProbeMs ?? RECOVERY_PROBE_MS).unref()
      }
      return result
    },
  }
  /** A chain read: refused while open; one that got no answer runs the check (which may open). */
  const guarded =
    <A extends unknown[], R>(read: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      breaker.admit()
      try {
        return await read(...args)
      } catch (error) {
        if (error instanceof RetryableError) await probe.check()
        throw error
      }
    }
  const { chain, holders, auditor } = ports
  return {
    breaker,
    probe,
    stop() {
      if (recovery !== undefined) clearInterval(recovery)
      recovery = undefined
    },
    ports: {
      ...(chain === undefined ? {} : { chain: { records: guarded(chain.records.bind(chain)) } }),
      ...(holders === undefined
        ? {}
        : {
            holders: {
              pools: () => holders.pools(),
              contracts: () => holders.contracts(),
              paymentToken: guarded(holders.paymentToken.bind(holders)),
              position: guarded(holders.position.bind(holders)),
              distributedEpochs: guarded(holders.distributedEpochs.bind(holders)),
            },
          }),
      ...(auditor === undefined
        ? {}
        : {
            auditor: {
              pools: () => auditor.pools(),
              pool: guarded(auditor.pool.bind(auditor)),
              records: guarded(auditor.records.bind(auditor)),
              audit: guarded(auditor.audit.bind(auditor)),
              // Artifacts by hash come from the store alone: served while the chain is down.
              artifact: (hash) => auditor.artifact(hash),
            },
          }),
    },
  }
}
