/**
 * Whether the submitter's chain is healthy, for /healthz. A failing pass says so at once; a
 * pass that hangs says nothing by itself: viem waits on a frozen node for its own timeouts, call
 * after call, so a whole pass can take minutes while no call has failed yet (attack10 F0: ok
 * through a 56 s anvil SIGSTOP). A pass running longer than `stallMs` is a chain that does not
 * answer.
 */
export interface ChainHealthInputs {
  /** False after the last pass failed. */
  readonly lastPassOk: boolean
  /** When the pass in progress started; undefined between passes. */
  readonly passStartedAtMs: number | undefined
  readonly nowMs: number
  readonly stallMs: number
}

export interface ChainHealth {
  readonly healthy: boolean
  readonly detail: string | undefined
}

export function chainHealth(i: ChainHealthInputs): ChainHealth {
  const runningMs = i.passStartedAtMs === undefined ? 0 : i.nowMs - i.passStartedAtMs
  if (runningMs >= i.stallMs)
    return {
      healthy: false,
      detail: `a pass over the pools has been waiting on the chain for ${Math.round(runningMs / 1000)} s (GRIDROOT_RPC_URL does not answer)`,
    }
  if (!i.lastPassOk) return { healthy: false, detail: 'the last pass over the pools failed (see lastError)' }
  return { healthy: true, detail: undefined }
}
