/**
 * The readings archive of a pool and epoch: the original signed telemetry.v1 records of every
 * device with a leaf, each with its receive time (the Kafka record timestamp, ingest's MQTT
 * receive time), the positions of the readings the leaf pays for, and the partition watermark
 * and device-time clock the record was applied at; plus the releases of readings that waited
 * for a seq gap. With it,
 * the registry (public keys, tariffs), the aggregation settings and the chain, anyone can check
 * every signature and recompute every leaf (energy, revenue, readings, digest) through the
 * aggregator's rules without Kafka or InfluxDB (domain/leaf-recompute.ts). Pure.
 *
 * Per device it carries the steps from the first that booked into the epoch to the last, and
 * context before them (its preceding record or more, paid nothing here: the register delta of
 * the first paid reading starts there), so records that pay nothing in this epoch appear too
 * (`paid: []`). A record can hold readings of two epochs (a batch across the boundary), or be
 * context for the next epoch: it then appears in both archives with different `paid`.
 *
 * The bytes are canonical: records sorted by (deviceId, partition, offset), releases by
 * (deviceId, partition, afterOffset), JSON with a fixed key order and no whitespace, so two
 * signers that select the same steps publish the same bytes and therefore the same hash.
 * `decodeArchive` refuses any other bytes (ARCHIVE_NOT_CANONICAL, attack10a F7): the archive is
 * content-addressed, so one set of readings has exactly one archive, and a reordered or
 * re-spaced copy under another hash is no archive of the system's.
 */
import { z } from 'zod'
import type { ClockAnchor, PartitionClock } from '../../../core/aggregation/device-acceptance.ts'
import { GridrootError } from '../../../core/errors/base.ts'
import type { ArchivedRecord } from '../ports.ts'

export const ARCHIVE_FORMAT = 'gridroot.readings-archive.v3'
/**
 * v2: no partition clocks; an accelerated run's leaves (GRIDROOT_AGG_DEVICE_TIME_SPEED > 1)
 * could recompute differently from what the signers' replay booked (issue 10 F1).
 */
export const ARCHIVE_FORMAT_V2 = 'gridroot.readings-archive.v2'
/** v1 (before leaves could be recomputed): no watermarks, no releases, paid records only. */
export const ARCHIVE_FORMAT_V1 = 'gridroot.readings-archive.v1'
type ArchiveFormat = typeof ARCHIVE_FORMAT | typeof ARCHIVE_FORMAT_V2 | typeof ARCHIVE_FORMAT_V1

/** A record in the archive, with the positions (in its `readings`) of the readings paid in this epoch. */
export interface ArchiveEntry extends ArchivedRecord {
  readonly paid: readonly number[]
  /** The partition's watermark just before the record was applied (undefined: none yet, or v1). */
  readonly watermarkMs?: number | undefined
  /**
   * The partition's device-time clock just before the record was applied (`{}`: none, as at
   * speed 1; undefined: not recorded, v1 and v2).
   */
  readonly clock?: PartitionClock | undefined
}

/** Readings of a device that waited for a seq gap, released after another record of the partition. */
export interface ArchiveRelease {
  readonly deviceId: string
  readonly partition: number
  /** The offset of the record after which they were released. */
  readonly afterOffset: string
  /** The partition's watermark at the release. */
  readonly watermarkMs: number | undefined
  /** The partition's device-time clock at the release (as `ArchiveEntry.clock`). */
  readonly clock?: PartitionClock | undefined
}

export interface ReadingsArchive {
  readonly format: ArchiveFormat
  readonly poolId: string
  readonly epoch: number
  readonly records: readonly ArchiveEntry[]
  readonly releases: readonly ArchiveRelease[]
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

/**
 * Valid JSON of valid records that is not the canonical encoding: records or releases out of
 * order or repeated, paid positions unsorted or repeated, an offset with leading zeros, or other
 * key order, whitespace or escapes than `encodeArchive` writes.
 */
export class ArchiveNotCanonicalError extends GridrootError<'ARCHIVE_NOT_CANONICAL'> {
  override readonly name = 'ArchiveNotCanonicalError'
  constructor(detail: string) {
    super('ARCHIVE_NOT_CANONICAL', `the readings archive is not in its canonical form: ${detail}`, {
      metaMessages: [
        'The archive is content-addressed: one set of readings has exactly one archive (docs/architecture.md, "Readings archive"). These bytes are not the ones the signers publish; fetch the archive by the committed archiveHash.',
      ],
    })
  }
}

const compareAt = (
  a: { deviceId: string; partition: number },
  aOffset: string,
  b: { deviceId: string; partition: number },
  bOffset: string,
) =>
  a.deviceId < b.deviceId
    ? -1
    : a.deviceId > b.deviceId
      ? 1
      : a.partition - b.partition || Number(BigInt(aOffset) - BigInt(bOffset))

const wm = (ms: number | undefined) => (ms === undefined ? 'null' : String(ms))
const anchorJson = (a: ClockAnchor | undefined) =>
  a === undefined ? 'null' : `[${JSON.stringify(a.ts)},${JSON.stringify(a.receivedAtMs)}]`
/** `null` for no clock (speed 1, nothing accepted yet, or not recorded). */
const clockJson = (c: PartitionClock | undefined) =>
  c === undefined || (c.anchor === undefined && c.fleet === undefined && c.newest === undefined)
    ? 'null'
    : `{"anchor":${anchorJson(c.anchor)},"fleet":${anchorJson(c.fleet)},"newest":${anchorJson(c.newest)}}`

/**
 * The canonical bytes of an archive (records deduplicated by device, partition and offset with
 * their paid positions merged; releases deduplicated; both sorted).
 */
export function encodeArchive(
  poolId: string,
  epoch: number,
  records: readonly ArchiveEntry[],
  releases: readonly ArchiveRelease[] = [],
): Uint8Array {
  return encodeAs(ARCHIVE_FORMAT, poolId, epoch, records, releases)
}

/** The canonical bytes in v3, or in v2 (without clocks: how a v2 archive's bytes are checked). */
function encodeAs(
  format: typeof ARCHIVE_FORMAT | typeof ARCHIVE_FORMAT_V2,
  poolId: string,
  epoch: number,
  records: readonly ArchiveEntry[],
  releases: readonly ArchiveRelease[],
): Uint8Array {
  const clock = (c: PartitionClock | undefined) =>
    format === ARCHIVE_FORMAT ? `,"clock":${clockJson(c)}` : ''
  const unique = new Map<string, { entry: ArchiveEntry; paid: Set<number> }>()
  for (const r of records) {
    const key = `${r.deviceId}\u0000${r.partition}/${r.offset}`
    const seen = unique.get(key) ?? { entry: r, paid: new Set<number>() }
    for (const i of r.paid) seen.paid.add(i)
    unique.set(key, seen)
  }
  const sorted = [...unique.values()].sort((a, b) =>
    compareAt(a.entry, a.entry.offset, b.entry, b.entry.offset),
  )
  const lines = sorted.map(({ entry: r, paid }) => {
    const positions = [...paid].sort((a, b) => a - b)
    return `{"deviceId":${JSON.stringify(r.deviceId)},"partition":${r.partition},"offset":${JSON.stringify(r.offset)},"receivedAtMs":${r.receivedAtMs},"watermarkMs":${wm(r.watermarkMs)}${clock(r.clock)},"paid":[${positions.join(',')}],"value":${JSON.stringify(r.valueBase64)}}`
  })
  const uniqueReleases = new Map(
    releases.map((r) => [`${r.deviceId}\u0000${r.partition}/${r.afterOffset}`, r]),
  )
  const releaseLines = [...uniqueReleases.values()]
    .sort((a, b) => compareAt(a, a.afterOffset, b, b.afterOffset))
    .map(
      (r) =>
        `{"deviceId":${JSON.stringify(r.deviceId)},"partition":${r.partition},"afterOffset":${JSON.stringify(r.afterOffset)},"watermarkMs":${wm(r.watermarkMs)}${clock(r.clock)}}`,
    )
  return new TextEncoder().encode(
    `{"format":"${format}","poolId":${JSON.stringify(poolId)},"epoch":${epoch},"records":[${lines.join(',')}],"releases":[${releaseLines.join(',')}]}`,
  )
}

const offsetSchema = z.string().regex(/^\d+$/)
/** A Kafka offset as `encodeArchive` writes it: decimal, no leading zeros. */
const CANONICAL_OFFSET = /^(0|[1-9]\d*)$/
const watermarkSchema = z.number().int().nullable()
/** [device time, receive time]: a clock's accounting time and the receive time it was reached at. */
const anchorSchema = z.tuple([z.number(), z.number().int()]).nullable()
const clockSchema = z
  .strictObject({ anchor: anchorSchema, fleet: anchorSchema, newest: anchorSchema })
  .nullable()
const recordFields = {
  deviceId: z.string().min(1),
  partition: z.number().int().nonnegative(),
  offset: offsetSchema,
  receivedAtMs: z.number().int(),
  paid: z.array(z.number().int().nonnegative()),
  value: z.string(),
}
const ArchiveSchema = z.discriminatedUnion('format', [
  z.strictObject({
    format: z.literal(ARCHIVE_FORMAT),
    poolId: z.string().min(1),
    epoch: z.number().int().nonnegative(),
    records: z.array(z.strictObject({ ...recordFields, watermarkMs: watermarkSchema, clock: clockSchema })),
    releases: z.array(
      z.strictObject({
        deviceId: z.string().min(1),
        partition: z.number().int().nonnegative(),
        afterOffset: offsetSchema,
        watermarkMs: watermarkSchema,
        clock: clockSchema,
      }),
    ),
  }),
  z.strictObject({
    format: z.literal(ARCHIVE_FORMAT_V2),
    poolId: z.string().min(1),
    epoch: z.number().int().nonnegative(),
    records: z.array(z.strictObject({ ...recordFields, watermarkMs: watermarkSchema })),
    releases: z.array(
      z.strictObject({
        deviceId: z.string().min(1),
        partition: z.number().int().nonnegative(),
        afterOffset: offsetSchema,
        watermarkMs: watermarkSchema,
      }),
    ),
  }),
  z.strictObject({
    format: z.literal(ARCHIVE_FORMAT_V1),
    poolId: z.string().min(1),
    epoch: z.number().int().nonnegative(),
    records: z.array(z.strictObject(recordFields)),
  }),
])

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
  const archive = archiveOf(result.data)
  const problem = canonicalProblem(archive, bytes)
  if (problem !== undefined) throw new ArchiveNotCanonicalError(problem)
  return archive
}

type AnchorJson = z.infer<typeof anchorSchema>
const anchorOf = (a: AnchorJson): ClockAnchor | undefined =>
  a === null ? undefined : { ts: a[0], receivedAtMs: a[1] }
/** v3's clock (`null` is none: `{}`); undefined for v2, which did not record it. */
const clockOf = (r: object): PartitionClock | undefined => {
  if (!('clock' in r)) return undefined
  const c = r.clock as z.infer<typeof clockSchema>
  return c === null
    ? {}
    : { anchor: anchorOf(c.anchor), fleet: anchorOf(c.fleet), newest: anchorOf(c.newest) }
}

function archiveOf(a: z.infer<typeof ArchiveSchema>): ReadingsArchive {
  return {
    format: a.format,
    poolId: a.poolId,
    epoch: a.epoch,
    records: a.records.map((r) => ({
      deviceId: r.deviceId,
      partition: r.partition,
      offset: r.offset,
      receivedAtMs: r.receivedAtMs,
      watermarkMs: 'watermarkMs' in r ? (r.watermarkMs ?? undefined) : undefined,
      clock: clockOf(r),
      paid: r.paid,
      valueBase64: r.value,
    })),
    releases:
      a.format === ARCHIVE_FORMAT_V1
        ? []
        : a.releases.map((r) => ({
            deviceId: r.deviceId,
            partition: r.partition,
            afterOffset: r.afterOffset,
            watermarkMs: r.watermarkMs ?? undefined,
            clock: clockOf(r),
          })),
  }
}

const at = (r: { deviceId: string; partition: number }, offset: string) =>
  `${r.deviceId} ${r.partition}/${offset}`

/**
 * Why decoded bytes are not the canonical encoding of what they hold (undefined: they are).
 * The order and positions are checked for every format, the exact bytes for v3 and v2 (v1
 * archives were written by an older encoder).
 */
function canonicalProblem(archive: ReadingsArchive, bytes: Uint8Array): string | undefined {
  for (const [i, r] of archive.records.entries()) {
    if (!CANONICAL_OFFSET.test(r.offset)) return `record ${i} (${at(r, r.offset)}): offset with leading zeros`
    const before = archive.records[i - 1]
    if (before !== undefined) {
      const order = compareAt(before, before.offset, r, r.offset)
      if (order === 0) return `record ${i} (${at(r, r.offset)}) repeats record ${i - 1}`
      if (order > 0)
        return `record ${i} (${at(r, r.offset)}) comes after record ${i - 1} (${at(before, before.offset)}); records are sorted by (deviceId, partition, offset)`
    }
    for (let j = 1; j < r.paid.length; j++)
      if ((r.paid[j] as number) <= (r.paid[j - 1] as number))
        return `record ${i} (${at(r, r.offset)}): paid positions [${r.paid.join(',')}] are not strictly increasing`
  }
  for (const [i, r] of archive.releases.entries()) {
    if (!CANONICAL_OFFSET.test(r.afterOffset))
      return `release ${i} (${at(r, r.afterOffset)}): offset with leading zeros`
    const before = archive.releases[i - 1]
    if (before === undefined) continue
    const order = compareAt(before, before.afterOffset, r, r.afterOffset)
    if (order === 0) return `release ${i} (${at(r, r.afterOffset)}) repeats release ${i - 1}`
    if (order > 0)
      return `release ${i} (${at(r, r.afterOffset)}) comes after release ${i - 1} (${at(before, before.afterOffset)}); releases are sorted by (deviceId, partition, afterOffset)`
  }
  if (archive.format === ARCHIVE_FORMAT_V1) return undefined
  const canonical = encodeAs(archive.format, archive.poolId, archive.epoch, archive.records, archive.releases)
  if (!Buffer.from(canonical).equals(Buffer.from(bytes)))
    return `its records encode canonically to other bytes (${canonical.length} bytes; this file has ${bytes.length}): key order, whitespace, number or string spelling differ`
  return undefined
}

/** A device's archived steps in partition order (a release comes after the record it followed). */
export function deviceSteps(archive: ReadingsArchive, deviceId: string): ArchivedStepOf[] {
  const steps: ArchivedStepOf[] = []
  for (const r of archive.records)
    if (r.deviceId === deviceId)
      steps.push({
        record: r,
        partition: r.partition,
        offset: r.offset,
        watermarkMs: r.watermarkMs,
        clock: r.clock,
      })
  for (const r of archive.releases)
    if (r.deviceId === deviceId)
      steps.push({
        record: undefined,
        partition: r.partition,
        offset: r.afterOffset,
        watermarkMs: r.watermarkMs,
        clock: r.clock,
      })
  return steps.sort(
    (a, b) =>
      a.partition - b.partition ||
      Number(BigInt(a.offset) - BigInt(b.offset)) ||
      (a.record ? 0 : 1) - (b.record ? 0 : 1),
  )
}

/** One archived step of a device: its record, or a release (domain/leaf-recompute.ts). */
export interface ArchivedStepOf {
  readonly record: ArchiveEntry | undefined
  readonly partition: number
  readonly offset: string
  readonly watermarkMs: number | undefined
  readonly clock: PartitionClock | undefined
}
