/** The DLQ (Kafka `telemetry.dlq`): counts by reason and pages by offset. */
import type { FastifyInstance } from 'fastify'
import { ApiError } from '../../errors.ts'
import { errorResponses, MS, OPERATOR_SECURITY, REASON } from '../../schemas.ts'
import type { OperatorContext } from './context.ts'

/** Kafka offsets are int64: a cursor past the largest names no record there can be. */
const MAX_OFFSET = 2n ** 63n - 1n

const OFFSET = {
  type: 'string',
  pattern: '^(?:0|[1-9][0-9]{0,18})$',
  description: 'Kafka offset (int64, decimal without leading zeros: at most 9223372036854775807)',
} as const

export async function dlqRoutes(app: FastifyInstance, ctx: OperatorContext): Promise<void> {
  app.get(
    '/dlq/counts',
    {
      schema: {
        tags: ['operator'],
        summary: 'Rejected messages by reason, and the offsets this API instance holds per partition',
        security: OPERATOR_SECURITY,
        response: {
          200: {
            type: 'object',
            required: ['total', 'byReason', 'partitions'],
            additionalProperties: false,
            properties: {
              total: { type: 'integer' },
              byReason: { type: 'object', additionalProperties: { type: 'integer' } },
              partitions: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['partition', 'oldestOffset', 'nextOffset', 'retained'],
                  additionalProperties: false,
                  properties: {
                    partition: { type: 'integer' },
                    oldestOffset: OFFSET,
                    nextOffset: OFFSET,
                    retained: { type: 'integer' },
                  },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async () => ({ ...ctx.dlq.countsByReason(), partitions: ctx.dlq.partitions() }),
  )

  app.get<{ Querystring: { partition: number; fromOffset?: string; reason?: string; limit: number } }>(
    '/dlq',
    {
      schema: {
        tags: ['operator'],
        summary: 'Rejected messages of one partition from an offset, ascending (nextOffset continues)',
        security: OPERATOR_SECURITY,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            partition: { type: 'integer', minimum: 0, maximum: 10_000, default: 0 },
            fromOffset: OFFSET,
            reason: REASON,
            limit: { type: 'integer', minimum: 1, maximum: ctx.limits.maxPageSize, default: 50 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['partition', 'nextOffset', 'records'],
            additionalProperties: false,
            properties: {
              partition: { type: 'integer' },
              nextOffset: OFFSET,
              records: {
                type: 'array',
                items: {
                  type: 'object',
                  required: [
                    'offset',
                    'key',
                    'reason',
                    'detail',
                    'mqttTopic',
                    'receivedAtMs',
                    'sizeBytes',
                    'preview',
                  ],
                  additionalProperties: false,
                  properties: {
                    offset: OFFSET,
                    key: { type: 'string' },
                    reason: { type: 'string' },
                    detail: { type: 'string' },
                    mqttTopic: { type: 'string' },
                    receivedAtMs: MS,
                    sizeBytes: { type: 'integer' },
                    preview: { type: 'string', description: 'the first 256 bytes of the original message' },
                  },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const q = request.query
      const state = ctx.dlq.partitions().find((p) => p.partition === q.partition)
      if (state === undefined) {
        throw new ApiError('UNKNOWN_PARTITION', `the DLQ has no partition ${q.partition}`, {
          details: { partitions: ctx.dlq.partitions().map((p) => p.partition) },
        })
      }
      const from = q.fromOffset === undefined ? BigInt(state.oldestOffset) : BigInt(q.fromOffset)
      // Not echoed: the caller knows what it sent, and an answer never repeats an impossible cursor.
      if (from > MAX_OFFSET)
        throw new ApiError('INVALID_PARAMETER', 'fromOffset is beyond the largest Kafka offset (int64)', {
          details: { parameter: 'fromOffset', maxOffset: MAX_OFFSET.toString() },
        })
      if (from < BigInt(state.oldestOffset)) {
        throw new ApiError('OFFSET_EVICTED', `offset ${from} is older than the oldest this instance keeps`, {
          details: { oldestOffset: state.oldestOffset },
        })
      }
      const page = ctx.dlq.page(q.partition, from, q.limit, q.reason)
      // A cursor past the partition's end continues at the end, not at itself: a client polling
      // from an echoed cursor skipped the records that arrived next (attack12d F8). A cursor
      // another, further instance handed out may repeat records here; it never skips one.
      const end = BigInt(state.nextOffset)
      const next = BigInt(page.nextOffset)
      return {
        partition: q.partition,
        nextOffset: (next > end ? end : next).toString(),
        records: page.records.map(({ partition: _partition, ...r }) => r),
      }
    },
  )
}
