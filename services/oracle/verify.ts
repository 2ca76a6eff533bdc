/**
 * `verify` with its IO: fetch the finalized commitment of a pool epoch from RevenueOracle, the
 * published tree and readings archive from the artifact store by the hashes the chain holds,
 * and the device's registry entry; then check them (domain/verify.ts). This is the function the
 * API serves; `verify-cli.ts` is the command.
 */
import type { DeviceRegistry } from '../../core/identity/registry.ts'
import { type VerifyResult, verifyDeviceEpoch } from './domain/verify.ts'
import type { ArtifactStore, OracleChain } from './ports.ts'

export interface VerifyDeps {
  readonly chain: Pick<OracleChain, 'finalized' | 'epochRecord'>
  readonly store: Pick<ArtifactStore, 'get'>
  readonly registry: Pick<DeviceRegistry, 'get'>
}

export type VerifyOutcome =
  | ({ readonly status: 'checked' } & VerifyResult)
  | { readonly status: 'not-final'; readonly epochStatus: string; readonly ok: false }
  | { readonly status: 'unknown-device'; readonly ok: false }
  | { readonly status: 'artifact-missing'; readonly hash: string; readonly ok: false }
  | { readonly status: 'artifact-corrupt'; readonly detail: string; readonly ok: false }

export async function verifyDevice(
  deps: VerifyDeps,
  args: { readonly poolId: string; readonly deviceId: string; readonly epoch: number },
): Promise<VerifyOutcome> {
  const device = deps.registry.get(args.deviceId)
  if (!device) return { status: 'unknown-device', ok: false }
  const finalized = await deps.chain.finalized(args.poolId, args.epoch)
  if (!finalized) {
    const record = await deps.chain.epochRecord(args.poolId, args.epoch)
    return { status: 'not-final', epochStatus: record.status, ok: false }
  }
  const fetch = async (hash: `0x${string}`) => {
    try {
      return await deps.store.get(hash)
    } catch (error) {
      // The store refuses bytes that do not hash to their name (a tampered file).
      return error instanceof Error ? error : new Error(String(error))
    }
  }
  const tree = await fetch(finalized.treeHash)
  const archive = await fetch(finalized.archiveHash)
  for (const [hash, got] of [
    [finalized.treeHash, tree],
    [finalized.archiveHash, archive],
  ] as const) {
    if (got === undefined) return { status: 'artifact-missing', hash, ok: false }
    if (got instanceof Error) return { status: 'artifact-corrupt', detail: got.message, ok: false }
  }
  return {
    status: 'checked',
    ...verifyDeviceEpoch({
      ...args,
      finalized,
      treeBytes: tree as Uint8Array,
      archiveBytes: archive as Uint8Array,
      device,
    }),
  }
}
