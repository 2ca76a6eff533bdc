/**
 * Whether the chain a service runs on is still the one it started on, with its contracts
 * (attack10b F2, F3). A lost anvil redeployed the documented way gives back the same contract
 * addresses, so nothing a service reads looks wrong, but everything it remembers (signed epochs,
 * published roots, the signer set) is of a chain that is gone: the oracle waited on epoch 0 for
 * good with /healthz 200. A watch records the chain's identity (chain id, block 0's hash) at
 * start and re-checks it and the contracts' code every few seconds (3 + n cheap calls).
 *
 * Block 0's hash is the marker: anvil's genesis block carries its start time, so a restarted
 * anvil, or one after `anvil_reset`, has another (both seen on anvil 1.x); a real chain's never
 * changes. `CHAIN_RESET` is latched: a service that saw it must be restarted, with fresh state.
 * `CONTRACTS_MISSING` (no code at an address of the contracts file on the chain the service
 * started on) clears once the code is there.
 */
import type { Address, Hex, PublicClient } from 'viem'
import { createChainClients } from '../clients/chain.ts'
import type { Endpoints } from '../endpoints.ts'
import type { Logger } from '../log.ts'
import { errorFields } from './log-error.ts'
import { chainFailure } from './node-answer.ts'

export type DeploymentProblemCode = 'CHAIN_RESET' | 'CONTRACTS_MISSING'

/** What a health body shows and a log line says: a stable code, what happened, what to do. */
export interface DeploymentProblem {
  readonly code: DeploymentProblemCode
  readonly message: string
  readonly hint: string
  /** CONTRACTS_MISSING: the watched contracts without code (`RevenueOracle 0x…`). */
  readonly contracts?: readonly string[]
}

export interface ChainIdentity {
  readonly chainId: number
  readonly genesisHash: Hex
}

export interface DeploymentObservation extends ChainIdentity {
  readonly headBlock: bigint
  /** Names (`RevenueOracle 0x…`) of the watched contracts without code. */
  readonly missing: readonly string[]
}

/** How often a watch checks: a few seconds, so /healthz says it soon after the chain is lost. */
export const DEPLOYMENT_WATCH_INTERVAL_MS = 5_000
/** Per call, without retries: a check that does not get through waits for the next one. */
const CHECK_TIMEOUT_MS = 4_000

const REDEPLOY = 'npm run deploy, then npm run pools -- apply --file config/pools.json'

/**
 * The problem, if any, of the chain as observed now against its identity at start (pure).
 *
 * @example
 * judgeDeployment({ chainId: 31337, genesisHash: a }, { chainId: 31337, genesisHash: b, headBlock: 3n, missing: [] }, 'contracts.json')?.code // 'CHAIN_RESET'
 */
export function judgeDeployment(
  start: ChainIdentity,
  now: DeploymentObservation,
  contractsFile: string,
): DeploymentProblem | undefined {
  if (now.chainId !== start.chainId || now.genesisHash !== start.genesisHash)
    return {
      code: 'CHAIN_RESET',
      message:
        now.chainId !== start.chainId
          ? `the chain node now answers chain id ${now.chainId}, not ${start.chainId} as when this service started: it is another chain`
          : `the chain was reset under this service: block 0 of chain ${now.chainId} was ${start.genesisHash} at start and is ${now.genesisHash} now (a new anvil, or anvil_reset); what this service holds of the old chain is gone`,
      hint: `Redeploy (${REDEPLOY}), then restart this service; until then it does nothing on the chain.`,
    }
  if (now.missing.length > 0)
    return {
      code: 'CONTRACTS_MISSING',
      message: `no contract at ${now.missing.join(', ')} on chain ${now.chainId} (head block ${now.headBlock}): the chain was reset, or the contracts file ${contractsFile} is for another chain`,
      hint: `Redeploy (${REDEPLOY}) or point GRIDROOT_CONTRACTS_FILE at this chain's contracts file, then restart this service.`,
      contracts: now.missing,
    }
  return undefined
}

/**
 * Whether `next` is news against `before`, to be logged (pure). The message names the head
 * block, which moves with every block: compared by it, CONTRACTS_MISSING was logged again at
 * every check (attack F4). The same code for the same contracts is the same problem.
 */
export function problemChanged(
  before: DeploymentProblem | undefined,
  next: DeploymentProblem | undefined,
): boolean {
  if (before?.code !== next?.code) return true
  if (before === undefined || next === undefined) return false
  if (next.code === 'CONTRACTS_MISSING')
    return (before.contracts ?? []).join('\n') !== (next.contracts ?? []).join('\n')
  return before.message !== next.message
}

/** The watched contracts by name (`RevenueOracle`, `RevenueDistributor gcl-pv`) and address. */
export type WatchedContracts = Readonly<Record<string, Address>>

/**
 * What the chain is now: its identity, head and which watched contracts have no code. Throws
 * what the node throws (a caller tells `unreachable` apart with `chainFailure`).
 */
export async function observeDeployment(
  publicClient: PublicClient,
  contracts: WatchedContracts,
): Promise<DeploymentObservation> {
  const [chainId, genesis, headBlock, codes] = await Promise.all([
    publicClient.getChainId(),
    publicClient.getBlock({ blockNumber: 0n }),
    publicClient.getBlockNumber({ cacheTime: 0 }),
    Promise.all(
      Object.entries(contracts).map(async ([name, address]) => ({
        name,
        address,
        code: await publicClient.getCode({ address }),
      })),
    ),
  ])
  return {
    chainId,
    genesisHash: genesis.hash,
    headBlock,
    missing: codes
      .filter((c) => c.code === undefined || c.code === '0x')
      .map((c) => `${c.name} ${c.address}`),
  }
}

export interface DeploymentWatch {
  /** The current problem; undefined while the chain and its contracts are as at start. */
  readonly problem: DeploymentProblem | undefined
  /** One check now (start-up awaits the first, so /healthz is right from the start). */
  check(): Promise<void>
  stop(): void
}

export interface DeploymentWatchParameters {
  readonly chain: Endpoints['chain']
  readonly contracts: WatchedContracts
  /** Path of the contracts file, for the message. */
  readonly contractsFile: string
  readonly logger: Logger
  readonly intervalMs?: number
}

/**
 * Records the chain's identity at the first check that reaches the node and re-checks every
 * `intervalMs`. A new problem is logged once, at fatal for CHAIN_RESET and error for
 * CONTRACTS_MISSING, with its code, message and hint; a node that does not answer changes
 * nothing (the services' own chain health says so).
 *
 * @example
 * const watch = startDeploymentWatch({ chain: config.endpoints.chain, contracts: { RevenueOracle: oracle }, contractsFile, logger })
 * await watch.check()
 * if (watch.problem === undefined) await submitter.tick()
 */
export function startDeploymentWatch(p: DeploymentWatchParameters): DeploymentWatch {
  const { publicClient } = createChainClients(p.chain, { timeoutMs: CHECK_TIMEOUT_MS, retryCount: 0 })
  let start: ChainIdentity | undefined
  let problem: DeploymentProblem | undefined
  let running: Promise<void> | undefined
  let lastFailure: string | undefined

  const once = async () => {
    let now: DeploymentObservation
    try {
      now = await observeDeployment(publicClient, p.contracts)
      lastFailure = undefined
    } catch (error) {
      const failure = chainFailure(error)
      if (failure !== 'unreachable' && lastFailure === undefined)
        p.logger.warn({ error: errorFields(error) }, 'deployment check failed; trying again')
      lastFailure = failure
      return
    }
    start ??= { chainId: now.chainId, genesisHash: now.genesisHash }
    // A reset is for good: the state built on the old chain stays wrong after a redeploy.
    if (problem?.code === 'CHAIN_RESET') return
    const next = judgeDeployment(start, now, p.contractsFile)
    if (problemChanged(problem, next)) {
      if (next === undefined)
        p.logger.info(
          { code: problem?.code, headBlock: String(now.headBlock) },
          'the contracts are there again',
        )
      else
        p.logger[next.code === 'CHAIN_RESET' ? 'fatal' : 'error'](
          { code: next.code, hint: next.hint, chainId: now.chainId, headBlock: String(now.headBlock) },
          next.message,
        )
    }
    problem = next
  }
  const check = () => {
    running ??= once().finally(() => {
      running = undefined
    })
    return running
  }
  const timer = setInterval(() => void check(), p.intervalMs ?? DEPLOYMENT_WATCH_INTERVAL_MS)
  timer.unref()
  return {
    get problem() {
      return problem
    },
    check,
    stop: () => clearInterval(timer),
  }
}

/**
 * For a one-shot command after a chain read failed (verify): CONTRACTS_MISSING when a contract
 * has no code, so the command says the contracts are gone instead of viem's "returned no data";
 * undefined when they are there or the node cannot tell.
 *
 * @example
 * const missing = await missingContracts(publicClient, { RevenueOracle: oracle }, contractsFile)
 * if (missing) console.error(`${missing.code}: ${missing.message}. ${missing.hint}`)
 */
export async function missingContracts(
  publicClient: PublicClient,
  contracts: WatchedContracts,
  contractsFile: string,
): Promise<DeploymentProblem | undefined> {
  try {
    const now = await observeDeployment(publicClient, contracts)
    return judgeDeployment(now, now, contractsFile)
  } catch {
    return undefined
  }
}
