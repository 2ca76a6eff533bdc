/**
 * A closed-loop HTTP load generator: `concurrency` keep-alive connections, each sending its
 * next request when the last one answered, for a fixed time. Reports requests per second and
 * latency percentiles of the 2xx answers; other answers are counted as errors, never as
 * throughput (a fast error is no throughput).
 */
import { Agent, request } from 'node:http'

export interface LoadResult {
  readonly requests: number
  readonly seconds: number
  readonly requestsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly bytesPerResponse: number
  /** Answers other than 2xx (e.g. 503 when InfluxDB timed out), with their statuses. */
  readonly errors: number
  readonly errorStatuses: Record<string, number>
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number)

export async function runLoad(options: {
  readonly url: string
  readonly headers?: Record<string, string>
  readonly concurrency: number
  readonly durationMs: number
}): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency })
  const target = new URL(options.url)
  const latencies: number[] = []
  let bytes = 0
  let errors = 0
  const errorStatuses: Record<string, number> = {}
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const started = performance.now()
      const req = request(
        {
          host: target.hostname,
          port: target.port,
          path: `${target.pathname}${target.search}`,
          agent,
          headers: options.headers,
        },
        (res) => {
          let size = 0
          res.on('data', (chunk: Buffer) => {
            size += chunk.length
          })
          res.on('end', () => {
            if ((res.statusCode ?? 0) >= 300) {
              errors++
              errorStatuses[String(res.statusCode)] = (errorStatuses[String(res.statusCode)] ?? 0) + 1
              resolve()
              return
            }
            latencies.push(performance.now() - started)
            bytes += size
            resolve()
          })
        },
      )
      req.on('error', reject)
      req.end()
    })
  const startedMs = performance.now()
  const deadline = startedMs + options.durationMs
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (performance.now() < deadline) await once()
    }),
  )
  const seconds = (performance.now() - startedMs) / 1000
  agent.destroy()
  const sorted = [...latencies].sort((a, b) => a - b)
  return {
    requests: latencies.length,
    seconds,
    requestsPerSecond: latencies.length / seconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    bytesPerResponse: latencies.length === 0 ? 0 : bytes / latencies.length,
    errors,
    errorStatuses,
  }
}
