import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { topicSet } from '../../core/kafka/topics.ts'
import { reject } from '../../core/telemetry/reasons.ts'
import { createLogger } from '../../runtime/log.ts'
import { createIngestMetrics } from './metrics.ts'
import { createPipeline, deadLetterRecord, HEADER } from './pipeline.ts'
import type { SinkOutcome, SinkRecord } from './ports.ts'

const topics = topicSet('unit.')
const mqttTopic = 'gridroot/v1/pv/pv-1/telemetry'

function pipelineWith(
  admitted: Awaited<ReturnType<Parameters<typeof createPipeline>[0]['admit']>>,
  outcome: (record: SinkRecord) => SinkOutcome = () => ({ delivered: 'kafka' }),
) {
  const sent: SinkRecord[] = []
  const metrics = createIngestMetrics()
  const handle = createPipeline({
    instanceId: 'ingest-unit',
    topics,
    send: async (record) => {
      sent.push(record)
      return outcome(record)
    },
    admit: async () => admitted,
    dlqMaxValueBytes: 64,
    metrics,
    logger: createLogger('ingest-unit', 'silent'),
  })
  return { handle, sent, metrics }
}

const withoutThunk = ({ deadLetter: _, ...record }: SinkRecord) => record
const metricValue = async (metrics: ReturnType<typeof createIngestMetrics>, name: string, label?: string) => {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name)
  return metric?.values.find((v) => label === undefined || v.labels.reason === label)?.value
}

describe('createPipeline', () => {
  it('produces an accepted message as is, keyed by device, stamped with its MQTT receive time', async () => {
    const { handle, sent } = pipelineWith({ ok: true, value: { deviceId: 'pv-1', readings: 3 } })
    const payload = Buffer.from('{"signed":"bytes"}')
    await handle(mqttTopic, payload, 1_234)
    expect(sent.map(withoutThunk)).toEqual([
      {
        topic: topics.telemetry.name,
        key: 'pv-1',
        value: payload,
        timestamp: '1234',
        headers: { [HEADER.ingestInstance]: 'ingest-unit' },
      },
    ])
  })

  it('sends a rejected message to the DLQ with its reason, detail, topic and receive time', async () => {
    const { handle, sent } = pipelineWith(reject('UNKNOWN_DEVICE', 'deviceId pv-1 is not registered'))
    const payload = Buffer.from('original bytes')
    await handle(mqttTopic, payload, 5_678)
    expect(sent.map(withoutThunk)).toEqual([
      {
        topic: topics.dlq.name,
        key: 'pv-1',
        value: payload,
        timestamp: '5678',
        headers: {
          [HEADER.reason]: 'UNKNOWN_DEVICE',
          [HEADER.detail]: 'deviceId pv-1 is not registered',
          [HEADER.mqttTopic]: mqttTopic,
          [HEADER.receivedAtMs]: '5678',
          [HEADER.ingestInstance]: 'ingest-unit',
        },
      },
    ])
  })

  it('cuts a DLQ value to the bound, with the size and sha256 of the whole original', async () => {
    const { handle, sent, metrics } = pipelineWith(reject('PAYLOAD_TOO_LARGE', 'too large'))
    const payload = Buffer.alloc(2 * 1024 * 1024, 'x')
    await handle(mqttTopic, payload, 1)
    const [dlq] = sent
    expect(dlq?.value.length).toBe(64)
    expect(dlq?.value.equals(payload.subarray(0, 64))).toBe(true)
    expect(dlq?.headers[HEADER.originalBytes]).toBe(String(payload.length))
    expect(dlq?.headers[HEADER.originalSha256]).toBe(createHash('sha256').update(payload).digest('hex'))
    expect(await metricValue(metrics, 'gridroot_ingest_dlq_truncated_total')).toBe(1)
  })

  it('counts a message Kafka refused as rejected with the reason, and not as accepted', async () => {
    const refusal = { reason: 'KAFKA_RECORD_TOO_LARGE', detail: 'too large for telemetry.v1' } as const
    const { handle, sent, metrics } = pipelineWith(
      { ok: true, value: { deviceId: 'pv-1', readings: 3 } },
      () => ({
        delivered: 'dead-letter',
        refusal,
      }),
    )
    await handle(mqttTopic, Buffer.from('{"signed":"bytes"}'), 9)
    // The dead letter the sink would keep for it: the original, with the refusal as reason.
    const letter = sent[0]?.deadLetter?.(refusal)
    expect(letter?.topic).toBe(topics.dlq.name)
    expect(letter?.headers[HEADER.reason]).toBe('KAFKA_RECORD_TOO_LARGE')
    expect(letter?.headers[HEADER.mqttTopic]).toBe(mqttTopic)
    expect(letter?.value.toString()).toBe('{"signed":"bytes"}')
    expect(
      await metricValue(metrics, 'gridroot_ingest_messages_rejected_total', 'KAFKA_RECORD_TOO_LARGE'),
    ).toBe(1)
    expect(await metricValue(metrics, 'gridroot_ingest_messages_accepted_total')).toBe(0)
  })

  it("keeps a DLQ record's headers and digest when Kafka refuses even the DLQ record", () => {
    const payload = Buffer.from('0123456789')
    const record = deadLetterRecord({
      dlqTopic: 'dlq',
      instanceId: 'i',
      mqttTopic: 'x'.repeat(70_000),
      payload,
      receivedAtMs: 1,
      reason: 'MALFORMED_JSON',
      detail: 'not JSON',
      maxValueBytes: 1_000,
    })
    expect(record.headers[HEADER.mqttTopic]?.length).toBe(500)
    const stub = record.deadLetter?.({ reason: 'KAFKA_RECORD_INVALID', detail: 'INVALID_RECORD' })
    expect(stub?.value.length).toBe(0)
    expect(stub?.headers[HEADER.reason]).toBe('MALFORMED_JSON')
    expect(stub?.headers[HEADER.originalBytes]).toBe('10')
    expect(stub?.headers[HEADER.detail]).toContain('KAFKA_RECORD_INVALID')
    // A stub has nothing left to cut: Kafka refusing it stops the sink.
    expect(stub?.deadLetter).toBeUndefined()
  })
})
