import { describe, expect, it } from 'vitest'
import { topicSet } from '../../core/kafka/topics.ts'
import { reject } from '../../core/telemetry/reasons.ts'
import { createLogger } from '../../runtime/log.ts'
import type { SinkRecord } from './adapters/kafka-sink.ts'
import { createIngestMetrics } from './metrics.ts'
import { createPipeline, HEADER } from './pipeline.ts'

const topics = topicSet('unit.')
const mqttTopic = 'gridroot/v1/pv/pv-1/telemetry'

function pipelineWith(admitted: Awaited<ReturnType<Parameters<typeof createPipeline>[0]['admit']>>) {
  const sent: SinkRecord[] = []
  const handle = createPipeline({
    instanceId: 'ingest-unit',
    topics,
    send: async (record) => {
      sent.push(record)
    },
    admit: async () => admitted,
    metrics: createIngestMetrics(),
    logger: createLogger('ingest-unit', 'silent'),
  })
  return { handle, sent }
}

describe('createPipeline', () => {
  it('produces an accepted message as is, keyed by device, stamped with its MQTT receive time', async () => {
    const { handle, sent } = pipelineWith({ ok: true, value: { deviceId: 'pv-1', readings: 3 } })
    const payload = Buffer.from('{"signed":"bytes"}')
    await handle(mqttTopic, payload, 1_234)
    expect(sent).toEqual([
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
    expect(sent).toEqual([
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
})
