/**
 * The readings archive of a pool and epoch: the original signed telemetry.v1 records whose
 * readings the epoch's device leaves pay for, each with its receive time (the Kafka record
 * timestamp, ingest's MQTT receive time). With it, the registry (public keys, tariffs) and the
 * chain, anyone can check every signature and recompute every leaf's readings digest without
 * Kafka or InfluxDB. Pure.
 *
 * The bytes are canonical: records sorted by (deviceId, partition, offset), JSON with a fixed
 * key order and no whitespace, so two signers that select the same records publish the same
 * bytes and therefore the same content hash. A record can hold readings of two epochs (a batch
 * across the boundary); it then appears in both archives, and the leaf pays only for the
 * readings the digest rule assigns to its epoch.
 */
import { z } from 'zod'
import { GridrootError } from '../../../core/errors/base.ts'
import type { ArchivedRecord } from '../ports.ts'

export const ARCHIVE_FORMAT = 'gridroot.readings-archive.v1'

/** A record in the archive, with the positions (in its `readings`) of the readings paid in this epoch. */
export interface ArchiveEntry extends ArchivedRecord {
  readonly paid: readonly number[]
}

export interface ReadingsArchive {
  readonly format: typeof ARCHIVE_FORMAT
  readonly poolId: string
  readonly epoch: number
  readonly records: readonly ArchiveEntry[]
}

export class ArchiveInvalidError extends GridrootError<'ARCHIVE_INVALID'> {
  override readonly name = 'ArchiveInvalidError'
  constructor(detail: string, cause?: unknown) {
    super('ARCHIVE_INVALID', `the readings archive is invalid: ${detail}`, {
      metaMessages: [
        'Fetch it again by its hash from the artifact store; a file that differs from its hash was altered.',
      ],
      cause,
    })
  }
}

const compareRecords = (a: ArchiveEntry, b: ArchiveEntry) =>
  a.deviceId < b.deviceId
    ? -1
    : a.deviceId > b.deviceId
      ? 1
      : a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset))

/** The canonical bytes of an archive (records deduplicated by partition and offset, sorted). */
export function encodeArchive(poolId: string, epoch: number, records: readonly ArchiveEntry[]): Uint8Array {
  const unique = new Map<string, { entry: ArchiveEntry; paid: Set<number> }>()
  for (const r of records) {
    const key = `${r.partition}/${r.offset}`
    const seen = unique.get(key) ?? { entry: r, paid: new Set<number>() }
    for (const i of r.paid) seen.paid.add(i)
    unique.set(key, seen)
  }
  const sorted = [...unique.values()].map((u) => u.entry).sort(compareRecords)
  const lines = sorted.map((r) => {
    const paid = [...(unique.get(`${r.partition}/${r.offset}`)?.paid ?? [])].sort((a, b) => a - b)
    return `{"deviceId":${JSON.stringify(r.deviceId)},"partition":${r.partition},"offset":${JSON.stringify(r.offset)},"receivedAtMs":${r.receivedAtMs},"paid":[${paid.join(',')}],"value":${JSON.stringify(r.valueBase64)}}`
  })
  return new TextEncoder().encode(
    `{"format":"${ARCHIVE_FORMAT}","poolId":${JSON.stringify(poolId)},"epoch":${epoch},"records":[${lines.join(',')}]}`,
  )
}

const ArchiveSchema = z.strictObject({
  format: z.literal(ARCHIVE_FORMAT),
  poolId: z.string().min(1),
  epoch: z.number().int().nonnegative(),
  records: z.array(
    z.strictObject({
      deviceId: z.string().min(1),
      partition: z.number().int().nonnegative(),
      offset: z.string().regex(/^\d+$/),
      receivedAtMs: z.number().int(),
      paid: z.array(z.number().int().nonnegative()),
      value: z.string(),
    }),
  ),
})

export function decodeArchive(bytes: Uint8Array): ReadingsArchive {
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (error) {
    throw new ArchiveInvalidError('not UTF-8 JSON', error)
  }
  const result = ArchiveSchema.safeParse(parsed)
  if (!result.success) {
    const issue = result.error.issues[0]
    throw new ArchiveInvalidError(
      `${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`,
      result.error,
    )
  }
  const a = result.data
  return {
    format: ARCHIVE_FORMAT,
    poolId: a.poolId,
    epoch: a.epoch,
    records: a.records.map((r) => ({
      deviceId: r.deviceId,
      partition: r.partition,
      offset: r.offset,
      receivedAtMs: r.receivedAtMs,
      paid: r.paid,
      valueBase64: r.value,
    })),
  }
}
