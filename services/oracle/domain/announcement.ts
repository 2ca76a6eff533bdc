/**
 * epochs.v1 announcements as the oracle reads them, and the check of a signer's per-device
 * totals against the announced digest. Pure. The record format and the digest are the
 * aggregator's (docs/architecture.md, "epochs.v1"); the digest function is imported, not copied.
 */
import { z } from 'zod'
import { GridrootError } from '../../../core/errors/base.ts'
import { totalsDigest } from '../../aggregator/domain/epoch-close.ts'
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
