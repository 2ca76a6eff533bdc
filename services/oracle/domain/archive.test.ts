import { describe, expect, it } from 'vitest'
import {
  ARCHIVE_FORMAT,
  ARCHIVE_FORMAT_V2,
  type ArchiveEntry,
  type ArchiveRelease,
  decodeArchive,
  deviceSteps,
  encodeArchive,
} from './archive.ts'

const entry = (deviceId: string, partition: number, offset: string, paid: number[] = []): ArchiveEntry => ({
  deviceId,
  partition,
  offset,
  receivedAtMs: 1_700_000_000_000 + Number(offset),
  watermarkMs: undefined,
  paid,
  valueBase64: Buffer.from(`${deviceId}/${offset}`).toString('base64'),
})
const release = (deviceId: string, partition: number, afterOffset: string): ArchiveRelease => ({
  deviceId,
  partition,
  afterOffset,
  watermarkMs: 1_700_000_000_000,
})
const records = [entry('dev-a', 0, '3', [0, 2]), entry('dev-a', 0, '10'), entry('dev-b', 1, '2', [1])]
const releases = [release('dev-a', 0, '4'), release('dev-b', 1, '9')]
const canonical = encodeArchive('pool-1', 7, records, releases)

type ArchiveJson = { records: Record<string, unknown>[]; releases: Record<string, unknown>[] }

/** The canonical archive's JSON, changed, written back with its key order and no whitespace. */
function altered(change: (json: ArchiveJson) => void) {
  const json = JSON.parse(Buffer.from(canonical).toString('utf8'))
  change(json)
  return new TextEncoder().encode(JSON.stringify(json))
}
const refusal = (bytes: Uint8Array) => {
  try {
    decodeArchive(bytes)
  } catch (error) {
    return error as { code: string; message: string }
  }
  throw new Error('decoded')
}

describe('readings archive canonical form (attack10a F7)', () => {
  it('decodes its own encoding, and re-encodes it to the same bytes', () => {
    const archive = decodeArchive(canonical)
    expect(archive.records.map((r) => r.offset)).toEqual(['3', '10', '2'])
    expect(encodeArchive(archive.poolId, archive.epoch, archive.records, archive.releases)).toEqual(canonical)
    expect(Buffer.from(altered(() => {}))).toEqual(Buffer.from(canonical))
  })

  it.each([
    ['records out of order', (j: ArchiveJson) => j.records.reverse(), /record 1 .* comes after record 0/],
    [
      'offsets compared as numbers (10 before 3)',
      (j: ArchiveJson) => {
        j.records = [j.records[1], j.records[0], j.records[2]] as Record<string, unknown>[]
      },
      /record 1 \(dev-a 0\/3\) comes after record 0 \(dev-a 0\/10\)/,
    ],
    [
      'a record twice',
      (j: ArchiveJson) => {
        j.records.splice(1, 0, j.records[0] as Record<string, unknown>)
      },
      /record 1 .* repeats record 0/,
    ],
    ['releases out of order', (j: ArchiveJson) => j.releases.reverse(), /release 1 .* comes after release 0/],
    [
      'paid positions unsorted',
      (j: ArchiveJson) => {
        ;(j.records[0] as { paid: number[] }).paid = [2, 0]
      },
      /paid positions \[2,0\]/,
    ],
    [
      'a paid position twice',
      (j: ArchiveJson) => {
        ;(j.records[0] as { paid: number[] }).paid = [0, 0, 2]
      },
      /paid positions \[0,0,2\]/,
    ],
    [
      'an offset with a leading zero',
      (j: ArchiveJson) => {
        ;(j.records[0] as { offset: string }).offset = '03'
      },
      /leading zeros/,
    ],
  ])('refuses %s: ARCHIVE_NOT_CANONICAL', (_, change, message) => {
    const error = refusal(altered(change))
    expect(error.code).toBe('ARCHIVE_NOT_CANONICAL')
    expect(error.message).toMatch(message)
  })

  it('refuses the same records with other key order, whitespace or escapes', () => {
    const text = Buffer.from(canonical).toString('utf8')
    const variants = [
      new TextEncoder().encode(JSON.stringify(JSON.parse(text), null, 1)),
      new TextEncoder().encode(text.replace('{"format"', '{ "format"')),
      new TextEncoder().encode(text.replace('"poolId":"pool-1","epoch":7', '"epoch":7,"poolId":"pool-1"')),
      new TextEncoder().encode(text.replace('"pool-1"', '"pool\\u002d1"')),
    ]
    for (const bytes of variants) {
      expect(decodeArchive.bind(undefined, bytes)).toThrow(/ARCHIVE_NOT_CANONICAL/)
      expect(refusal(bytes).message).toMatch(/encode canonically to other bytes/)
    }
  })

  it('still tells invalid JSON apart (ARCHIVE_INVALID)', () => {
    expect(refusal(new TextEncoder().encode('{')).code).toBe('ARCHIVE_INVALID')
  })
})

describe('readings archive v3: the partition clock of each step (issue 10 F1)', () => {
  const anchor = { ts: 1_780_243_218_331, receivedAtMs: 1_796_410_249_423 }
  const newest = { ts: 1_780_286_400_000, receivedAtMs: 1_796_410_313_872 }
  const clocked = [{ ...entry('dev-a', 0, '3', [0]), clock: { anchor, newest } }, entry('dev-a', 0, '10')]
  const clockedReleases = [{ ...release('dev-a', 0, '4'), clock: { fleet: anchor } }]
  const bytes = encodeArchive('pool-1', 7, clocked, clockedReleases)

  it('carries each step its clock, and gives it back to the steps verify replays', () => {
    const text = Buffer.from(bytes).toString('utf8')
    expect(text).toContain(
      `"watermarkMs":null,"clock":{"anchor":[${anchor.ts},${anchor.receivedAtMs}],"fleet":null,"newest":[${newest.ts},${newest.receivedAtMs}]},"paid":[0]`,
    )
    // No clock (speed 1, or nothing accepted yet) is null, and decodes as an empty clock.
    expect(text).toContain('"watermarkMs":null,"clock":null,"paid":[]')
    const archive = decodeArchive(bytes)
    expect(archive.format).toBe(ARCHIVE_FORMAT)
    expect(deviceSteps(archive, 'dev-a').map((s) => s.clock)).toEqual([
      { anchor, fleet: undefined, newest },
      { anchor: undefined, fleet: anchor, newest: undefined },
      {},
    ])
    expect(encodeArchive(archive.poolId, archive.epoch, archive.records, archive.releases)).toEqual(bytes)
  })

  it('still reads v2 byte for byte (no clocks: undefined, the rules keep their own)', () => {
    const v2 = Buffer.from(canonical)
      .toString('utf8')
      .replace(ARCHIVE_FORMAT, ARCHIVE_FORMAT_V2)
      .replaceAll(',"clock":null', '')
    const archive = decodeArchive(new TextEncoder().encode(v2))
    expect(archive.format).toBe(ARCHIVE_FORMAT_V2)
    expect(deviceSteps(archive, 'dev-a').every((s) => s.clock === undefined)).toBe(true)
    expect(refusal(new TextEncoder().encode(v2.replace('{"format"', '{ "format"'))).code).toBe(
      'ARCHIVE_NOT_CANONICAL',
    )
  })

  it('refuses a clock of another shape (ARCHIVE_INVALID)', () => {
    const text = Buffer.from(bytes).toString('utf8').replace('"fleet":null', '"fleet":[1]')
    expect(refusal(new TextEncoder().encode(text)).code).toBe('ARCHIVE_INVALID')
  })
})
