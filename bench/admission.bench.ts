/**
 * `npm run bench:admission`: what ingest's admission (services/ingest/domain/admit.ts: decode,
 * registry, class, signature) costs per message on one thread, against verifying the same
 * signatures and doing nothing else (libsodium or node:crypto, whichever ingest uses here), in
 * the same run. The ratio is the share of the verification ceiling that admission itself leaves:
 * the rest of ingest (MQTT, Kafka, brokers) can only lower it. No servers; each figure is the
 * best of several passes, which makes it steadier than ingest's end-to-end figures on a shared
 * machine.
 *
 * v2 verifies the body bytes as sent and parses them once; v1 parses, re-encodes canonically and
 * then verifies. Same readings, 1 and 20 per signed message.
 */
import { ED25519_VERIFIER, publicKeyFromHex, verifyBytes } from '../core/identity/keys.ts'
import { indexRegistry } from '../core/identity/registry.ts'
import { DEFAULT_DECODE_LIMITS, decodeAcceptedRecord } from '../core/telemetry/decode.ts'
import { signedBytesOf } from '../core/telemetry/signed.ts'
import type { TelemetryVersion } from '../core/telemetry/types.ts'
import { admitAndVerify } from '../services/ingest/domain/admit.ts'
import { createBenchFleet, createBenchLoad } from './support/load.ts'
import { type BenchResult, benchResult, formatResults, writeResult } from './support/results.ts'

const MESSAGES = 2_000
const PASSES = 15

/**
 * Best (least disturbed) pass of each kind of work over all items, in messages per second. The
 * passes alternate, so load from elsewhere on a shared machine falls on both alike.
 */
function bestRates<T>(items: readonly T[], works: readonly ((item: T) => void)[]): number[] {
  const bestMs = works.map(() => Number.POSITIVE_INFINITY)
  for (let pass = 0; pass < PASSES; pass++) {
    for (const [w, work] of works.entries()) {
      const started = performance.now()
      for (const item of items) work(item)
      bestMs[w] = Math.min(bestMs[w] as number, performance.now() - started)
    }
  }
  return bestMs.map((ms) => (items.length / ms) * 1000)
}

const fleet = createBenchFleet('admission', { chargers: 40, pv: 30, swap: 30 })
const registry = indexRegistry(fleet.registry().devices)
const results: BenchResult[] = []
for (const batchSize of [20, 1]) {
  for (const version of [2, 1] as TelemetryVersion[]) {
    const load = createBenchLoad(fleet, { batchSize, messages: MESSAGES, telemetryVersion: version })
    const jobs = load.publishes.map((p) => {
      const message = decodeAcceptedRecord(p.payload)
      return {
        publish: p,
        key: publicKeyFromHex(registry.get(message.deviceId)?.publicKey ?? ''),
        signed: signedBytesOf(message),
        sig: message.sig,
      }
    })
    const [verifyRate = Number.NaN, admitRate = Number.NaN] = bestRates(jobs, [
      (j) => {
        if (!verifyBytes(j.key, j.signed, j.sig)) throw new Error('the load does not verify')
      },
      (j) => {
        const result = admitAndVerify(j.publish.topic, j.publish.payload, registry, DEFAULT_DECODE_LIMITS)
        if (!result.ok) throw new Error(`${result.reason}: ${result.detail}`)
      },
    ])
    const result = benchResult({
      name: `admission-v${version}-${batchSize === 1 ? 'per-message' : 'batched'}`,
      subject: `ingest admission (decode, registry, signature) of telemetry v${version}, ${batchSize} reading(s) per message, one thread, readings/s`,
      baseline: `${ED25519_VERIFIER} verifying the same signatures and nothing else, one thread, readings/s`,
      unit: 'readings/s',
      value: admitRate * batchSize,
      baselineValue: verifyRate * batchSize,
      params: {
        telemetryVersion: version,
        readingsPerMessage: batchSize,
        messages: jobs.length,
        meanPayloadBytes: Math.round(load.meanPayloadBytes),
        passes: PASSES,
        admissionMicrosPerMessage: Math.round((1e6 / admitRate) * 10) / 10,
        verifyMicrosPerMessage: Math.round((1e6 / verifyRate) * 10) / 10,
        verifier: ED25519_VERIFIER,
      },
    })
    writeResult(result)
    results.push(result)
    console.error(
      `${result.name}: ${result.params.admissionMicrosPerMessage} µs per message against ${result.params.verifyMicrosPerMessage} µs verifying → ratio ${result.ratio.toFixed(3)}`,
    )
  }
}
console.log(formatResults(results))
