/** The DLQ (Kafka `telemetry.dlq`): counts by reason, and pages keyed by (partition, offset). */
import type { FastifyInstance } from 'fastify'
import {
  formatDlqCursor,
  MAX_CURSOR_PARTITIONS,
  MAX_DLQ_OFFSET,
  parseDlqCursor,
} from '../../domain/dlq-store.ts'
import { ApiError } from '../../errors.ts'
import { errorResponses, MS, OPERATOR_SECURITY, REASON } from '../../schemas.ts'
import type { OperatorContext } from './context.ts'

const OFFSET = {
  type: 'string',
  pattern: '^(?:0|[1-9][0-9]{0,18})$',
  description: 'Kafka offset (int64, decimal without leading zeros: at most 9223372036854775807)',
} as const

/** What every DLQ answer says of the data it comes from. */
const FRESHNESS = {
  asOfMs: {
    ...MS,
    nullable: true,
    description: "when Kafka last answered this instance's DLQ reader: the data is the topic as of then",
  },
  caughtUp: {
    type: 'boolean',
    description: 'false while the reader is still reading the topic up to where it ended at start',
  },
} as const

export async function dlqRoutes(app: FastifyInstance, ctx: OperatorContext): Promise<void> {
  /**
   * The reader's data, or 503 when it no longer reads Kafka: counts and pages of a reader that
   * stopped were answered as current (issue 12 F8).
   */
  const freshness = () => {
    const health = ctx.dlq.health()
    if (!health.ok)
      throw new ApiError('UPSTREAM_UNAVAILABLE', `the DLQ reader is not reading Kafka: ${health.reason}`, {
        details: {
          upstream: 'Kafka',
          reader: health.code,
          sinceMs: health.sinceMs,
          asOfMs: health.asOfMs ?? null,
          staleForMs: health.staleForMs,
          retryAfterS: 5,
        },
        hint: "This API instance's DLQ reader gets no answer from Kafka (or its consumer stalled): what it holds is details.staleForMs old, so it is not served. /healthz names the problem (check kafka-dlq). A consumer stalled past GRIDROOT_API_DLQ_RESTART is replaced by itself; retry after the retry-after header.",
      })
    return { asOfMs: health.asOfMs ?? null, caughtUp: health.caughtUp }
  }

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
            required: ['total', 'byReason', 'partitions', 'asOfMs', 'caughtUp'],
            additionalProperties: false,
            properties: {
              ...FRESHNESS,
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
    async () => ({ ...freshness(), ...ctx.dlq.countsByReason(), partitions: ctx.dlq.partitions() }),
  )

  const RECORD = {
    type: 'object',
    required: [
      'partition',
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
      partition: {
        type: 'integer',
        description: 'offsets count per partition: a record is (partition, offset)',
      },
      offset: OFFSET,
      key: { type: 'string' },
      reason: { type: 'string' },
      detail: { type: 'string' },
      mqttTopic: { type: 'string' },
      receivedAtMs: MS,
      sizeBytes: { type: 'integer' },
      preview: { type: 'string', description: 'the first 256 bytes of the original message' },
    },
  } as const

  app.get<{
    Querystring: { partition?: number; fromOffset?: string; cursor?: string; reason?: string; limit: number }
  }>(
    '/dlq',
    {
      schema: {
        tags: ['operator'],
        summary:
          'Rejected messages: of every partition, oldest received first, from cursor (nextCursor continues); or of one partition from an offset (nextOffset continues)',
        description:
          "Offsets count per partition, so a record is named by (partition, offset). Without partition the page merges every partition and nextCursor carries each partition's position (partition:offset,...); records that arrive later in any partition are on a later page, never skipped. With partition, fromOffset pages that partition alone.",
        security: OPERATOR_SECURITY,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            partition: { type: 'integer', minimum: 0, maximum: 10_000 },
            fromOffset: { ...OFFSET, description: `${OFFSET.description}; with partition only` },
            cursor: {
              type: 'string',
              minLength: 3,
              maxLength: MAX_CURSOR_PARTITIONS * 26,
              pattern: '^[0-9:,]+$',
              description:
                'nextCursor of the previous page (every partition: partition:offset,...); without partition only',
            },
            reason: REASON,
            limit: { type: 'integer', minimum: 1, maximum: ctx.limits.maxPageSize, default: 50 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['records', 'asOfMs', 'caughtUp'],
            additionalProperties: false,
            properties: {
              ...FRESHNESS,
              partition: { type: 'integer', description: 'the partition paged (with partition only)' },
              nextOffset: { ...OFFSET, description: 'where the partition continues (with partition only)' },
              nextCursor: {
                type: 'string',
                description: 'where every partition continues (without partition only)',
              },
              records: { type: 'array', items: RECORD },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const q = request.query
      const fresh = freshness()
      const partitions = ctx.dlq.partitions()
      const known = partitions.map((p) => p.partition)
      if (q.partition === undefined) {
        if (q.fromOffset !== undefined)
          throw new ApiError('INVALID_PARAMETER', 'fromOffset pages one partition: it needs partition', {
            details: { parameter: 'fromOffset' },
            hint: 'Add partition=<n> (GET /api/v1/operator/dlq/counts lists them) to page one partition from an offset, or page every partition with cursor=<nextCursor>.',
          })
        const positions = new Map<number, bigint>()
        if (q.cursor !== undefined) {
          const parsed = parseDlqCursor(q.cursor)
          if ('problem' in parsed)
            throw new ApiError('INVALID_PARAMETER', `cursor: ${parsed.problem}`, {
              details: { parameter: 'cursor' },
            })
          for (const [partition, offset] of parsed.positions) {
            const state = partitions.find((p) => p.partition === partition)
            if (state === undefined)
              throw new ApiError('UNKNOWN_PARTITION', `the DLQ has no partition ${partition}`, {
                details: { partitions: known },
              })
            if (offset < BigInt(state.oldestOffset))
              throw new ApiError(
                'OFFSET_EVICTED',
                `offset ${offset} of partition ${partition} is older than the oldest this instance keeps`,
                { details: { partition, oldestOffset: state.oldestOffset } },
              )
            // Past the end continues at the end (attack12d F8), as the one-partition cursor does.
            const end = BigInt(state.nextOffset)
            positions.set(partition, offset > end ? end : offset)
          }
        }
        const page = ctx.dlq.pageAcross(positions, q.limit, q.reason)
        return { ...fresh, nextCursor: formatDlqCursor(page.positions), records: page.records }
      }
      if (q.cursor !== undefined)
        throw new ApiError('INVALID_PARAMETER', 'cursor pages every partition: it takes no partition', {
          details: { parameter: 'cursor' },
          hint: 'Send cursor=<nextCursor> without partition to page every partition, or partition=<n>&fromOffset=<nextOffset> to page one.',
        })
      const state = partitions.find((p) => p.partition === q.partition)
      if (state === undefined) {
        throw new ApiError('UNKNOWN_PARTITION', `the DLQ has no partition ${q.partition}`, {
          details: { partitions: known },
        })
      }
      const from = q.fromOffset === undefined ? BigInt(state.oldestOffset) : BigInt(q.fromOffset)
      // Not echoed: the caller knows what it sent, and an answer never repeats an impossible cursor.
      if (from > MAX_DLQ_OFFSET)
        throw new ApiError('INVALID_PARAMETER', 'fromOffset is beyond the largest Kafka offset (int64)', {
          details: { parameter: 'fromOffset', maxOffset: MAX_DLQ_OFFSET.toString() },
        })
      if (from < BigInt(state.oldestOffset)) {
        throw new ApiError('OFFSET_EVICTED', `offset ${from} is older than the oldest this instance keeps`, {
          details: { partition: q.partition, oldestOffset: state.oldestOffset },
        })
      }
      const page = ctx.dlq.page(q.partition, from, q.limit, q.reason)
      // A cursor past the partition's end continues at the end, not at itself: a client polling
      // from an echoed cursor skipped the records that arrived next (attack12d F8). A cursor
      // another, further instance handed out may repeat records here; it never skips one.
      const end = BigInt(state.nextOffset)
      const next = BigInt(page.nextOffset)
      return {
        ...fresh,
        partition: q.partition,
        nextOffset: (next > end ? end : next).toString(),
        records: page.records,
      }
    },
  )
}
