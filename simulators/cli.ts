/**
 * `npm run simulate -- [options]`: a simulated fleet publishing signed telemetry over MQTT, with
 * fault injection and a ground-truth ledger. Run with --help for the options.
 */

import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { stringifyWithBigints } from '../core/json.ts'
import { formatDurationMs, parseDurationMs } from '../core/units/duration.ts'
import { endpointsFromEnv, mqttTopicPrefixFromEnv } from '../runtime/config.ts'
import { loadTariffBook } from '../runtime/tariffs-file.ts'
import { createMqttPublisher } from './adapters/mqtt-publisher.ts'
import { createFleet } from './fleet/fleet.ts'
import { runScenario } from './runner.ts'
import { DEVICE_FAULT_KINDS, FAULT_KINDS, type FaultKind, Scenario } from './scenario.ts'

const HELP = `Usage: npm run simulate -- [options]

Simulates fleets of charging piles, PV plants and battery-swap cabinets that publish signed
telemetry to MQTT (QoS 1), optionally with injected faults, and writes the ground truth.

Fleet
  --chargers N          charging piles (default 20)
  --pv N                PV plants (default 10)
  --swap N              swap cabinets (default 10)
  --seed TEXT           everything derives from it: keys, behaviour, faults (default "gridroot")
  --start ISO           device time at which the run starts (default 2026-06-01T00:00:00+08:00)
  --duration D          simulated time to cover, e.g. 6h, 1d (default 1d)
  --sample D            meter sampling interval in device time (default 5m)
Pace
  --speed X|max         simulated seconds per wall second, e.g. 3600 = an hour a second (default max)
  --batch N             readings per signed message, e.g. a station gateway's upload (default 1)
  --telemetry 2|1       telemetry version: 2 signs the bytes sent (default); 1 only for the
                        migration window (a canonical re-encoding is signed; no boot, no seqReset)
  --connections N       multiplexed MQTT connections (default 8)
  --inflight N          QoS 1 publishes awaiting PUBACK per connection (default 64)
Faults (probabilities; per message, or per device and tick for ${DEVICE_FAULT_KINDS.join('/')})
  --faults k=p,...      any of: ${FAULT_KINDS.join(', ')}
  --all-faults P        the same probability for every fault kind
Output
  --registry-out FILE   write the device registry (ingest loads it) and exit if --registry-only
  --registry-only       only write the registry
  --ledger-out FILE     write the ground truth per device and epoch when the run ends
  --epoch D             epoch length for the ledger (default 1d); --interval D (default 5m)
  --tariffs FILE        tariff book for the ledger's revenue (default: the demo book)
  --help                this text

Endpoints come from the environment (GRIDROOT_MQTT_URL, default mqtt://127.0.0.1:1883);
GRIDROOT_MQTT_TOPIC_PREFIX (e.g. site-a/) publishes under a deployment's namespace, as ingest
subscribes with the same setting.
`

function fail(message: string): never {
  console.error(`simulate: ${message}\nRun with --help for the options.`)
  process.exit(2)
}

function positiveInt(name: string, text: string | undefined, fallback: number, min = 0): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < min) fail(`--${name} must be an integer ≥ ${min}, got ${text}`)
  return n
}

function parseFaults(
  faults: string | undefined,
  all: string | undefined,
): Partial<Record<FaultKind, number>> {
  const rates: Partial<Record<FaultKind, number>> = {}
  if (all !== undefined) for (const k of FAULT_KINDS) rates[k] = Number(all)
  for (const part of (faults ?? '').split(',').filter(Boolean)) {
    const [kind, p] = part.split('=')
    if (!FAULT_KINDS.includes(kind as FaultKind))
      fail(`unknown fault kind ${kind}; known: ${FAULT_KINDS.join(', ')}`)
    rates[kind as FaultKind] = Number(p)
  }
  for (const [k, p] of Object.entries(rates))
    if (!(p >= 0 && p <= 1)) fail(`fault ${k} needs a probability in [0, 1], got ${p}`)
  return rates
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      chargers: { type: 'string' },
      pv: { type: 'string' },
      swap: { type: 'string' },
      seed: { type: 'string', default: 'gridroot' },
      start: { type: 'string', default: '2026-06-01T00:00:00+08:00' },
      duration: { type: 'string', default: '1d' },
      sample: { type: 'string', default: '5m' },
      speed: { type: 'string', default: 'max' },
      batch: { type: 'string' },
      telemetry: { type: 'string', default: '2' },
      connections: { type: 'string' },
      inflight: { type: 'string' },
      faults: { type: 'string' },
      'all-faults': { type: 'string' },
      'registry-out': { type: 'string' },
      'registry-only': { type: 'boolean', default: false },
      'ledger-out': { type: 'string' },
      epoch: { type: 'string', default: '1d' },
      interval: { type: 'string', default: '5m' },
      tariffs: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(HELP)
    return
  }
  const startMs = Date.parse(values.start)
  if (Number.isNaN(startMs)) fail(`--start is not an ISO date: ${values.start}`)
  const durationMs = parseDurationMs(values.duration)
  const sampleMs = parseDurationMs(values.sample)
  const speed = values.speed === 'max' ? Number.POSITIVE_INFINITY : Number(values.speed)
  if (!(speed > 0)) fail(`--speed must be a positive number or "max", got ${values.speed}`)
  const fleet = createFleet({
    seed: values.seed,
    chargers: positiveInt('chargers', values.chargers, 20),
    pv: positiveInt('pv', values.pv, 10),
    swap: positiveInt('swap', values.swap, 10),
    startMs,
    sampleMs,
  })
  if (values['registry-out']) {
    mkdirSync(dirname(values['registry-out']), { recursive: true })
    writeFileSync(values['registry-out'], `${JSON.stringify(fleet.registry(), null, 1)}\n`)
    console.log(
      `simulate: wrote the registry of ${fleet.devices.length} devices to ${values['registry-out']}`,
    )
    if (values['registry-only']) return
  }
  const grid = {
    genesisMs: startMs,
    epochLengthMs: parseDurationMs(values.epoch),
    intervalMs: parseDurationMs(values.interval),
  }
  if (values.telemetry !== '1' && values.telemetry !== '2')
    fail(`--telemetry must be 1 or 2, got ${values.telemetry}`)
  const telemetryVersion = values.telemetry === '1' ? 1 : 2
  const faults = parseFaults(values.faults, values['all-faults'])
  if (telemetryVersion === 1 && (faults.seqReset ?? 0) > 0)
    fail('seqReset needs --telemetry 2: v1 has no boot')
  const scenario = new Scenario(fleet, {
    grid,
    tariffs: await loadTariffBook(values.tariffs, grid),
    batchSize: positiveInt('batch', values.batch, 1, 1),
    faults,
    telemetryVersion,
  })
  const endpoints = endpointsFromEnv(process.env)
  const topicPrefix = mqttTopicPrefixFromEnv(process.env)
  console.log(
    `simulate: ${fleet.devices.length} devices (seed ${values.seed}), ${formatDurationMs(durationMs)} of device time from ${new Date(startMs).toISOString()}, speed ${values.speed}, MQTT ${endpoints.mqtt.url}${topicPrefix === '' ? '' : ` under ${topicPrefix}`}`,
  )
  const publisher = await createMqttPublisher(endpoints.mqtt, {
    connections: positiveInt('connections', values.connections, 8, 1),
    inflightPerConnection: positiveInt('inflight', values.inflight, 64, 1),
    clientIdPrefix: `gridroot-sim-${process.pid}`,
    topicPrefix,
  })
  const abort = new AbortController()
  process.once('SIGINT', () => abort.abort())
  process.once('SIGTERM', () => abort.abort())
  const final = await runScenario(scenario, {
    endMs: startMs + durationMs,
    tickMs: sampleMs,
    // The runner counts simulated ms per wall ms; the CLI speaks of seconds per second, the same ratio.
    speed,
    publish: (batch) => publisher.publish(batch),
    signal: abort.signal,
    onProgress: (p) => {
      const rate = p.elapsedMs > 0 ? Math.round((p.readings / p.elapsedMs) * 1000) : 0
      console.log(
        `simulate: ${(p.fraction * 100).toFixed(1).padStart(5)}%  device time ${new Date(p.simTimeMs).toISOString()}  messages ${p.published}  readings ${p.readings}  ${rate} readings/s${p.lagMs > 1000 ? `  behind by ${(p.lagMs / 1000).toFixed(1)} s` : ''}`,
      )
    },
  })
  await publisher.close()
  const injected = Object.entries(scenario.counters.injected).filter(([, n]) => n > 0)
  console.log(
    `simulate: done: ${final.published} messages, ${scenario.counters.genuineReadings} genuine readings in ${(final.elapsedMs / 1000).toFixed(1)} s; faults injected: ${injected.length ? injected.map(([k, n]) => `${k}=${n}`).join(' ') : 'none'}`,
  )
  if (values['ledger-out']) {
    mkdirSync(dirname(values['ledger-out']), { recursive: true })
    writeFileSync(
      values['ledger-out'],
      `${stringifyWithBigints({ grid, counters: scenario.counters, ...scenario.ledger.snapshot() })}\n`,
    )
    console.log(`simulate: wrote the ground truth to ${values['ledger-out']}`)
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
