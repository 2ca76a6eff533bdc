/**
 * Where the gas of one transaction goes, from anvil's opcode trace of the same call on the
 * state it will run on (`debug_traceCall` on `latest` just before it is sent: anvil without
 * `--steps-tracing` keeps no opcodes for `debug_traceTransaction`), struct logs: the intrinsic part (21,000 base + calldata), then each opcode's own cost, summed
 * by the contract it ran in and by kind. A call's own cost is what the CALL step cost minus
 * everything its callee ran (so cold-account access and the call stipend bookkeeping stay with
 * the caller's `call` kind); the callee's opcodes count for the callee.
 *
 * Rows: `base`, `calldata`, then `<role>.<kind>` with kinds `sload`, `sstore`, `log`, `keccak`,
 * `call` and `other` (dispatch, ABI decoding, memory, arithmetic), and `refund` (negative: what
 * trace's gas used left out of the sum), and `total` (the trace's gas used; the caller checks
 * it against the receipt).
 */
import type { Address, Hex, PublicClient } from 'viem'

interface StructLog {
  readonly op: string
  readonly gas: number
  readonly gasCost: number
  readonly depth: number
  readonly stack?: readonly Hex[]
}

const CALLS = new Set(['CALL', 'STATICCALL', 'DELEGATECALL', 'CALLCODE'])

function kindOf(op: string): string {
  if (op === 'SLOAD') return 'sload'
  if (op === 'SSTORE') return 'sstore'
  if (op.startsWith('LOG')) return 'log'
  if (op === 'KECCAK256' || op === 'SHA3') return 'keccak'
  if (CALLS.has(op)) return 'call'
  return 'other'
}

export type GasBreakdown = Record<string, number>

/** `roles` names the contracts (lowercase address → role); others count as `other`. */
export async function gasBreakdown(
  client: PublicClient,
  tx: { readonly from: Address; readonly to: Address; readonly input: Hex },
  roles: Readonly<Record<string, string>>,
): Promise<GasBreakdown> {
  const trace = (await client.request({
    method: 'debug_traceCall' as never,
    params: [
      { from: tx.from, to: tx.to, data: tx.input },
      'latest',
      { disableMemory: true, disableStorage: true, disableStack: false },
    ] as never,
  })) as { gas: number; failed: boolean; structLogs: StructLog[] }
  if (trace.failed || trace.structLogs.length === 0)
    throw new Error(`gas breakdown: the traced call to ${tx.to} failed or recorded no opcodes`)
  const steps = trace.structLogs
  const own = new Array<number>(steps.length).fill(0)
  // Child frame of each call step: [i + 1, end), where end is the next step back at its depth.
  const childEnd = new Array<number>(steps.length).fill(-1)
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as StructLog
    const next = steps[i + 1]
    if (next && next.depth > step.depth) {
      let j = i + 1
      while (j < steps.length && (steps[j] as StructLog).depth > step.depth) j++
      childEnd[i] = j
    }
  }
  for (let i = steps.length - 1; i >= 0; i--) {
    const step = steps[i] as StructLog
    const end = childEnd[i] as number
    const next = steps[i + 1]
    if (end >= 0) {
      let child = 0
      for (let k = i + 1; k < end; k++) child += own[k] as number
      const after = steps[end]
      own[i] = (after ? step.gas - after.gas : step.gasCost) - child
    } else if (next && next.depth === step.depth) {
      own[i] = step.gas - next.gas
    } else {
      own[i] = step.gasCost
    }
  }
  // Which contract each step ran in: a call stack of addresses.
  const frames: string[] = [tx.to.toLowerCase()]
  const out: GasBreakdown = {}
  const add = (key: string, gas: number) => {
    out[key] = (out[key] ?? 0) + gas
  }
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as StructLog
    while (frames.length > step.depth) frames.pop()
    const role = roles[frames[frames.length - 1] as string] ?? 'other'
    add(`${role}.${kindOf(step.op)}`, own[i] as number)
    if ((childEnd[i] as number) >= 0 && CALLS.has(step.op)) {
      const stack = step.stack ?? []
      const target = stack[stack.length - 2] ?? '0x0'
      frames.push(`0x${BigInt(target).toString(16).padStart(40, '0')}`)
    }
  }
  const input = tx.input.slice(2)
  let calldata = 0
  for (let i = 0; i < input.length; i += 2) calldata += input.slice(i, i + 2) === '00' ? 4 : 16
  const base = 21_000
  const executed = Object.values(out).reduce((a, b) => a + b, 0)
  return {
    base,
    calldata,
    ...out,
    refund: trace.gas - (base + calldata + executed),
    total: trace.gas,
  }
}
