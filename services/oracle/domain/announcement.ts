/**
 * epochs.v1 announcements as the oracle reads them, and the check of a signer's per-device
 * totals against the announced digest. Pure. The record format and the digest are the
 * aggregator's (docs/architecture.md, "epochs.v1"); the digest function is imported, not copied.
 */
import { z } from 'zod'
import { GridrootError } from '../../../core/errors/base.ts'
import { poolTotals, totalsDigest } from '../../aggregator/domain/epoch-close.ts'
import type { DeviceEpochTotals, EpochAnnouncement } from '../ports.ts'

const AnnouncementSchema = z.object({
  version: z.literal(1),
  epoch: z.number().int().nonnegative(),
  startMs: z.number().int(),
  endMs: z.number().int(),
  pools: z.array(
    z.object({
      poolId: z.string().min(1),
      devices: z.number().int().nonnegative(),
      energyWh: z.number().int(),
      revenueUnits: z.string().regex(/^-?\d+$/),
      readings: z.number().int().nonnegative(),
    }),
  ),
  digest: z.object({ algorithm: z.literal('sha256'), value: z.string().regex(/^[0-9a-f]{64}$/) }),
})

export class AnnouncementInvalidError extends GridrootError<'ANNOUNCEMENT_INVALID'> {
  override readonly name = 'AnnouncementInvalidError'
  constructor(detail: string, cause?: unknown) {
    super('ANNOUNCEMENT_INVALID', `an epochs.v1 record is not an announcement: ${detail}`, {
      metaMessages: ['The record is skipped and counted; is another producer writing to epochs.v1?'],
      cause,
    })
  }
}

export function decodeAnnouncement(value: Uint8Array): EpochAnnouncement {
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(value).toString('utf8'))
  } catch (error) {
    throw new AnnouncementInvalidError('not JSON', error)
  }
  const parsed = AnnouncementSchema.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new AnnouncementInvalidError(`${issue?.path.join('.')}: ${issue?.message}`, parsed.error)
  }
  const a = parsed.data
  return {
    epoch: a.epoch,
    startMs: a.startMs,
    endMs: a.endMs,
    pools: a.pools.map((p) => ({ ...p, revenueUnits: BigInt(p.revenueUnits) })),
    digest: a.digest.value,
  }
}

/** undefined when the totals are what the aggregator announced; otherwise what differs. */
export function announcementMismatch(
  announcement: EpochAnnouncement,
  totals: readonly DeviceEpochTotals[],
): { readonly announced: string; readonly computed: string } | undefined {
  const computed = totalsDigest(totals)
  return computed === announcement.digest ? undefined : { announced: announcement.digest, computed }
}

/** Whether a signer's totals of one pool are what the aggregator announced for it. */
export type PoolAnnouncementCheck =
  | { readonly match: true; readonly by: 'epoch-digest' | 'pool-lines' }
  | {
      readonly match: false
      /** sha256 of the pool's own device lines (the digest's lines of this pool alone). */
      readonly ownPoolDigest: string
      readonly detail: string
    }

const summary = (p: { devices: number; energyWh: number; revenueUnits: bigint; readings: number }) =>
  `${p.devices} devices, ${p.energyWh} Wh, ${p.revenueUnits} units, ${p.readings} readings`

/**
 * Checks one pool of an epoch against the announcement (attack10a F8: one pool whose totals
 * differed made a signer refuse every pool of the epoch). The announced digest covers every
 * pool's device lines, sorted by pool, so a pool cannot be checked alone; it is checked with the
 * other pools' lines taken from a reference (the aggregator's booked totals, or the replay): when
 * this pool's own lines with a reference's lines of the other pools give the announced digest,
 * this pool's lines are exactly the announced ones (sha256), whatever the reference says of this
 * pool. A reference never makes a pool match that differs; a wrong one only fails to localize.
 */
export function poolAnnouncementCheck(
  announcement: EpochAnnouncement,
  poolId: string,
  own: readonly DeviceEpochTotals[],
  references: readonly (readonly DeviceEpochTotals[])[],
): PoolAnnouncementCheck {
  if (totalsDigest(own) === announcement.digest) return { match: true, by: 'epoch-digest' }
  const mine = own.filter((t) => t.poolId === poolId)
  for (const reference of references) {
    const others = reference.filter((t) => t.poolId !== poolId)
    if (totalsDigest([...mine, ...others]) === announcement.digest) return { match: true, by: 'pool-lines' }
  }
  const announced = announcement.pools.find((p) => p.poolId === poolId)
  const computed = poolTotals(mine)[0]
  const zero = { devices: 0, energyWh: 0, revenueUnits: 0n, readings: 0 }
  const differs = summary(announced ?? zero) !== summary(computed ?? zero)
  return {
    match: false,
    ownPoolDigest: totalsDigest(mine),
    detail: differs
      ? `pool ${poolId}: these totals give ${summary(computed ?? zero)}, the aggregator announced ${summary(announced ?? zero)}`
      : `pool ${poolId}: the pool's sums are as announced (${summary(computed ?? zero)}) but its device totals are not those the epoch's digest covers, or no reference of the other pools matched the digest to tell`,
  }
}
