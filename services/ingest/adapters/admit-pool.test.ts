import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, describe, expect, it } from 'vitest'
import { deriveDeviceSeed, keyPairFromSeed } from '../../../core/identity/keys.ts'
import { DEFAULT_DECODE_LIMITS } from '../../../core/telemetry/decode.ts'
import { encodeV1, encodeV2 } from '../../../core/telemetry/sign.ts'
import { telemetryTopic } from '../../../core/telemetry/topic.ts'
import type { Reading } from '../../../core/telemetry/types.ts'
import { createAdmitPool, packPayloads, unpackPayloads } from './admit-pool.ts'

const key = keyPairFromSeed(deriveDeviceSeed('pool', 'pv-1'))
const registry = [
  {
    deviceId: 'pv-1',
    assetClass: 'pv' as const,
    poolId: 'gcl-pv',
    ratedPowerW: 50_000,
    tariffId: 'fit',
    publicKey: key.publicKeyHex,
  },
]
const reading = (seq: number): Reading => ({
  type: 'pv.inverter',
  seq,
  ts: 1_780_000_000_000 + seq * 60_000,
  registerWh: 1000 + seq,
  acPowerW: 2000,
  irradianceWm2: 500,
  status: 'MPPT',
})
const topic = telemetryTopic('pv', 'pv-1')

describe('createAdmitPool (real worker threads)', () => {
  const pool = createAdmitPool({ workers: 2, registry, limits: DEFAULT_DECODE_LIMITS })
  afterAll(() => pool.close())

  it('admits signed messages of both versions and rejects bad ones with their reason, in many concurrent hand-offs', async () => {
    const good = Array.from({ length: 200 }, (_, i) =>
      i % 2 === 0
        ? encodeV2('pv-1', 0, [reading(i + 1), reading(i + 2)], key.privateKey)
        : encodeV1('pv-1', [reading(i + 1), reading(i + 2)], key.privateKey),
    )
    const forged = good
      .slice(0, 20)
      .map((b) => Buffer.from(b.toString().replace('"registerWh":1001', '"registerWh":9999')))
    const results = await Promise.all([
      ...good.map((b) => pool.admit(topic, b)),
      ...forged.map((b) => pool.admit(topic, b)),
      pool.admit(topic, Buffer.from('{"v":1,')),
    ])
    expect(
      results.slice(0, 200).every((r) => r.ok && r.value.deviceId === 'pv-1' && r.value.readings === 2),
    ).toBe(true)
    expect(results.slice(200, 220).map((r) => (r.ok ? 'OK' : r.reason))).toEqual([
      'BAD_SIGNATURE',
      ...Array.from({ length: 19 }, () => 'OK'),
    ])
    expect(results.at(-1)).toMatchObject({ ok: false, reason: 'MALFORMED_JSON' })
    // Workers load TypeScript through tsx first: seconds on a busy machine.
  }, 60_000)

  it('reports workers that are loading as starting, not down, and none once they are ready', async () => {
    const fresh = createAdmitPool({ workers: 2, registry, limits: DEFAULT_DECODE_LIMITS })
    try {
      expect(fresh.health(Date.now())).toMatchObject({ workers: 2, running: 0, starting: 2, crashes: 0 })
      await fresh.admit(topic, encodeV2('pv-1', 0, [reading(1)], key.privateKey))
      for (let i = 0; i < 600 && fresh.health(Date.now()).running < 2; i++) await sleep(100)
      expect(fresh.health(Date.now())).toMatchObject({ running: 2, starting: 0 })
    } finally {
      await fresh.close()
    }
  }, 90_000)
})

describe('packPayloads / unpackPayloads', () => {
  it('round-trips views into larger buffers, empty payloads included, without keeping the rest', () => {
    const socketRead = Buffer.from('..first..second....')
    const payloads = [socketRead.subarray(2, 7), Buffer.alloc(0), socketRead.subarray(9, 15)]
    const packed = packPayloads(payloads)
    expect(packed.payloads.byteLength).toBe(11)
    expect(unpackPayloads(packed).map((v) => Buffer.from(v).toString())).toEqual(['first', '', 'second'])
  })
})

describe('createAdmitPool with workers that fail (real worker threads, test/ingest/support/faulty-admit-worker.mjs)', () => {
  const workerUrl = new URL('../../../test/ingest/support/faulty-admit-worker.mjs', import.meta.url)
  const good = (n: number) =>
    Array.from({ length: n }, (_, i) => encodeV2('pv-1', 0, [reading(i + 1)], key.privateKey))
  const untilRunning = async (pool: ReturnType<typeof createAdmitPool>, running: number) => {
    while (pool.health(Date.now()).running !== running) await new Promise((r) => setTimeout(r, 20))
  }

  it('replaces a crashed worker and admits every message it held', async () => {
    const pool = createAdmitPool({ workers: 2, registry, limits: DEFAULT_DECODE_LIMITS, workerUrl })
    try {
      await untilRunning(pool, 2)
      const messages = good(60)
      const results = await Promise.all([
        ...messages.slice(0, 30).map((b) => pool.admit(topic, b)),
        // Crashes the worker it is handed to, with the messages handed over beside it.
        pool.admit(telemetryTopic('pv', 'crash-worker'), Buffer.from('{}')),
        ...messages.slice(30).map((b) => pool.admit(topic, b)),
      ])
      expect(results.filter((r) => r.ok).length).toBe(60)
      // It crashed a worker each time it was handed over: beside others, then twice alone, and
      // then it was given up (never admitted on this thread, where a crash or a loop stops all).
      expect(results[30]).toMatchObject({ ok: false, reason: 'ADMISSION_WORKER_LOST' })
      const health = pool.health(Date.now())
      expect(health.crashes).toBe(3)
      expect(health.lastCrash).toContain('crashing on purpose')
      await untilRunning(pool, 2)
      expect(pool.health(Date.now()).oldestHandOffAgeMs).toBe(0)
      expect((await pool.admit(topic, good(1)[0] as Buffer)).ok).toBe(true)
    } finally {
      await pool.close()
    }
  }, 60_000)

  it('keeps the answer a worker posted just before it died, and blames nothing it answered', async () => {
    // Node sends a worker's error on another port than its answers: the error can come first.
    // An answered hand-off blamed for the crash would be handed over again (and lost twice).
    const pool = createAdmitPool({ workers: 1, registry, limits: DEFAULT_DECODE_LIMITS, workerUrl })
    try {
      for (let round = 1; round <= 3; round++) {
        await untilRunning(pool, 1)
        const answer = pool.admit(telemetryTopic('pv', 'answer-then-crash'), Buffer.from('{}'))
        // This thread busy while the worker answers and dies (as on a loaded machine): both
        // the answer and the error are waiting when it next looks, and the error is read first.
        await new Promise((handedOver) =>
          setImmediate(() => {
            const busyUntilMs = Date.now() + 300
            while (Date.now() < busyUntilMs);
            handedOver(undefined)
          }),
        )
        const result = await answer
        // The real worker's own answer (it is not a registered device), not a loss.
        expect(result).toMatchObject({ ok: false })
        expect(result.ok ? '' : result.reason).not.toBe('ADMISSION_WORKER_LOST')
        for (let i = 0; i < 500 && pool.health(Date.now()).crashes < round; i++) await sleep(10)
        expect(pool.health(Date.now()).crashes).toBe(round)
      }
      await untilRunning(pool, 1)
      expect((await pool.admit(topic, good(1)[0] as Buffer)).ok).toBe(true)
    } finally {
      await pool.close()
    }
  }, 60_000)

  it('terminates a worker that loops on a message, and gives the message up after two such losses', async () => {
    const pool = createAdmitPool({
      workers: 2,
      registry,
      limits: DEFAULT_DECODE_LIMITS,
      workerUrl,
      timeoutMs: 300,
    })
    try {
      await untilRunning(pool, 2)
      const messages = good(40)
      const results = await Promise.all([
        ...messages.slice(0, 20).map((b) => pool.admit(topic, b)),
        pool.admit(telemetryTopic('pv', 'hang-worker'), Buffer.from('{}')),
        ...messages.slice(20).map((b) => pool.admit(topic, b)),
      ])
      expect(results.filter((r) => r.ok).length).toBe(40)
      expect(results[20]).toMatchObject({ ok: false, reason: 'ADMISSION_WORKER_LOST' })
      expect(results[20]?.ok ? '' : results[20]?.detail).toMatch(/timeout 300 ms/)
      expect(pool.health(Date.now()).crashes).toBe(3)
      await untilRunning(pool, 2)
      expect((await pool.admit(topic, good(1)[0] as Buffer)).ok).toBe(true)
    } finally {
      await pool.close()
    }
  }, 60_000)

  it('shows a worker stuck in a loop as the age of its unanswered hand-off', async () => {
    const pool = createAdmitPool({ workers: 1, registry, limits: DEFAULT_DECODE_LIMITS, workerUrl })
    try {
      await untilRunning(pool, 1)
      void pool.admit(telemetryTopic('pv', 'hang-worker'), Buffer.from('{}'))
      const sentMs = Date.now()
      await new Promise((r) => setTimeout(r, 50))
      const nowMs = Date.now()
      expect(pool.health(nowMs).oldestHandOffAgeMs).toBeGreaterThanOrEqual(nowMs - sentMs - 5)
      expect(pool.health(nowMs + 60_000).oldestHandOffAgeMs).toBeGreaterThanOrEqual(60_000)
    } finally {
      await pool.close()
    }
  }, 60_000)
})
