/**
 * The records on `oracle.signatures.v1` (key `<poolId>/<epoch>`, one partition): JSON,
 * `{"v":1,"kind":"signature","instance","source","signer","signature","proposal":{…}}` or
 * `{"v":1,"kind":"refusal","instance","source","signer","poolId","epoch","reason","detail","ownRoot"?}`.
 * Pure. The submitter trusts nothing in them: a signature counts only after it recovers to the
 * signer it names, and only if the chain lists that signer.
 */
import { z } from 'zod'
import { GridrootError } from '../../../core/errors/base.ts'
import type { SignerMessage } from '../ports.ts'
import { type Hex, proposalFromJson, proposalToJson } from './proposal.ts'

const hex = (bytes: number) => z.string().regex(new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`))
const Base = { v: z.literal(1), instance: z.string(), source: z.string(), signer: hex(20) }
const MessageSchema = z.discriminatedUnion('kind', [
  z.object({
    ...Base,
    kind: z.literal('signature'),
    signature: hex(65),
    proposal: z.object({
      poolId: z.string(),
      epoch: z.number(),
      attempt: z.number(),
      root: z.string(),
      revenueUnits: z.string(),
      energyWh: z.string(),
      leafCount: z.number(),
      treeHash: z.string(),
      archiveHash: z.string(),
    }),
  }),
  z.object({
    ...Base,
    kind: z.literal('refusal'),
    poolId: z.string(),
    epoch: z.number().int(),
    reason: z.string(),
    detail: z.string(),
    ownRoot: hex(32).optional(),
  }),
])

export class SignerMessageInvalidError extends GridrootError<'SIGNER_MESSAGE_INVALID'> {
  override readonly name = 'SignerMessageInvalidError'
  constructor(detail: string, cause?: unknown) {
    super('SIGNER_MESSAGE_INVALID', `an oracle.signatures.v1 record is malformed: ${detail}`, {
      metaMessages: ['The record is skipped and counted.'],
      cause,
    })
  }
}

export const signerMessageKey = (poolId: string, epoch: number) => `${poolId}/${epoch}`

export function encodeSignerMessage(m: SignerMessage): string {
  if (m.kind === 'signature') {
    return JSON.stringify({
      v: 1,
      kind: m.kind,
      instance: m.instance,
      source: m.source,
      signer: m.signer,
      signature: m.signature,
      proposal: proposalToJson(m.proposal),
    })
  }
  return JSON.stringify({ v: 1, ...m })
}

export function decodeSignerMessage(value: Uint8Array): SignerMessage {
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(value).toString('utf8'))
  } catch (error) {
    throw new SignerMessageInvalidError('not JSON', error)
  }
  const parsed = MessageSchema.safeParse(json)
  if (!parsed.success)
    throw new SignerMessageInvalidError(parsed.error.issues[0]?.message ?? 'invalid', parsed.error)
  const m = parsed.data
  if (m.kind === 'signature') {
    return {
      kind: 'signature',
      instance: m.instance,
      source: m.source,
      signer: m.signer.toLowerCase() as Hex,
      signature: m.signature as Hex,
      proposal: proposalFromJson(m.proposal),
    }
  }
  return {
    kind: 'refusal',
    instance: m.instance,
    source: m.source,
    signer: m.signer.toLowerCase() as Hex,
    poolId: m.poolId,
    epoch: m.epoch,
    reason: m.reason,
    detail: m.detail,
    ownRoot: m.ownRoot as Hex | undefined,
  }
}
