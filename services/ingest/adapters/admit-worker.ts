/**
 * Worker thread of the admission pool: decodes, checks and verifies batches of messages
 * (services/ingest/domain/admit.ts) with its own copy of the device registry, so that the main
 * thread only moves bytes between MQTT and Kafka.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { indexRegistry } from '../../../core/identity/registry.ts'
import { admitSafely } from '../domain/admit.ts'
import {
  ADMIT_WORKER_READY,
  type AdmitRequest,
  type AdmitResponse,
  type AdmitWorkerData,
  unpackPayloads,
} from './admit-pool.ts'

const { registry: records, limits } = workerData as AdmitWorkerData
const registry = indexRegistry(records)

parentPort?.on('message', (request: AdmitRequest) => {
  const payloads = unpackPayloads(request)
  const results = request.topics.map((topic, i) =>
    admitSafely(topic, payloads[i] as Uint8Array, registry, limits),
  )
  const { id } = request
  parentPort?.postMessage({ id, results } satisfies AdmitResponse)
})
parentPort?.postMessage(ADMIT_WORKER_READY)
