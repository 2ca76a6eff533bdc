/**
 * Worker thread of the admission pool: decodes, checks and verifies batches of messages
 * (services/ingest/domain/admit.ts) with its own copy of the device registry, so that the main
 * thread only moves bytes between MQTT and Kafka.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { indexRegistry } from '../../../core/identity/registry.ts'
import { admitAndVerify } from '../domain/admit.ts'
import type { AdmitRequest, AdmitResponse, AdmitWorkerData } from './admit-pool.ts'

const { registry: records, limits } = workerData as AdmitWorkerData
const registry = indexRegistry(records)

parentPort?.on('message', ({ id, jobs }: AdmitRequest) => {
  const results = jobs.map(([topic, payload]) => admitAndVerify(topic, payload, registry, limits))
  parentPort?.postMessage({ id, results } satisfies AdmitResponse)
})
