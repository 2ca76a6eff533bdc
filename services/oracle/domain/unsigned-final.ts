/**
 * A root no current signer signed that became final anyway (attack10 F1). Pure.
 *
 * The submitter never finalizes such a root (domain/submit-step.ts `unsigned-pending`), but
 * `finalize` is permissionless: anyone calls it once the window passed, and the guardian may not
 * have rejected it in time. From then on the chain pays out on a root the signers never
 * vouched for, and only a person can decide what to do (pause the distributor, a corrective
 * epoch, legal). So the submitter's /healthz stays 503 with `UNSIGNED_ROOT_FINAL` naming the
 * pool, epoch and root until an operator acknowledges that exact root in
 * GRIDROOT_ORACLE_ACKNOWLEDGED_ROOTS; going back to 200 by itself, as before, hid it.
 */
import type { Hex, Proposal, ProposalJson } from './proposal.ts'

export const UNSIGNED_ROOT_FINAL = 'UNSIGNED_ROOT_FINAL'

/** One operator acknowledgement: this pool epoch's final root was looked at. */
export interface AcknowledgedRoot {
  readonly poolId: string
  readonly epoch: number
  readonly root: Hex
}

const ENTRY = /^(.+)\/(\d{1,15})\/(0x[0-9a-fA-F]{64})$/

/**
 * Parses `pool/epoch/root[,pool/epoch/root…]` (whitespace around entries ignored); returns the
 * entries or the first entry that does not parse.
 *
 * @example
 * parseAcknowledgedRoots('gcl-pv/12/0xab…ab') // { ok: true, roots: [{ poolId: 'gcl-pv', epoch: 12, root: '0xab…ab' }] }
 */
export function parseAcknowledgedRoots(
  text: string,
): { ok: true; roots: AcknowledgedRoot[] } | { ok: false; entry: string } {
  const roots: AcknowledgedRoot[] = []
  for (const raw of text.split(',')) {
    const entry = raw.trim()
    if (entry === '') continue
    const m = ENTRY.exec(entry)
    if (!m) return { ok: false, entry }
    roots.push({ poolId: m[1] as string, epoch: Number(m[2]), root: (m[3] as string).toLowerCase() as Hex })
  }
  return { ok: true, roots }
}

export function isAcknowledged(
  acknowledged: readonly AcknowledgedRoot[],
  poolId: string,
  epoch: number,
  root: Hex,
): boolean {
  const r = root.toLowerCase()
  return acknowledged.some((a) => a.poolId === poolId && a.epoch === epoch && a.root === r)
}

/** What /healthz shows and the error log says. */
export interface UnsignedRootFinal {
  readonly code: typeof UNSIGNED_ROOT_FINAL
  readonly poolId: string
  readonly epoch: number
  readonly attempt: number
  readonly root: Hex
  readonly proposal: ProposalJson
  /** What the current signers signed for that attempt, in the book. */
  readonly signedRoots: readonly { readonly root: Hex; readonly signers: readonly Hex[] }[]
  readonly message: string
  readonly hint: string
}

export function unsignedRootFinal(
  proposal: Proposal,
  proposalJson: ProposalJson,
  signed: readonly { readonly proposal: Proposal; readonly signers: readonly Hex[] }[],
): UnsignedRootFinal {
  const { poolId, epoch, attempt, root } = proposal
  return {
    code: UNSIGNED_ROOT_FINAL,
    poolId,
    epoch,
    attempt,
    root,
    proposal: proposalJson,
    signedRoots: signed.map((s) => ({ root: s.proposal.root, signers: s.signers })),
    message: `pool ${poolId} epoch ${epoch} (attempt ${attempt}) is final on-chain with root ${root}, which no current signer signed in this submitter's book${signed.length > 0 ? ` (the signers signed ${signed.map((s) => s.proposal.root).join(', ')})` : ''}: someone finalized it after its challenge window passed without a guardian rejection`,
    hint: `Payouts of this pool epoch rest on a root the signers never vouched for: check the distributor before it funds it, and decide what to do. Then acknowledge it: add ${poolId}/${epoch}/${root} to GRIDROOT_ORACLE_ACKNOWLEDGED_ROOTS (comma-separated) and restart the submitter.`,
  }
}
