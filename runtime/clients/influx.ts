import {
  InfluxDB,
  type QueryApi,
  type WriteApi,
  type WriteOptions,
  type WritePrecisionType,
} from '@influxdata/influxdb-client'
import type { Endpoints } from '../endpoints.ts'

export interface InfluxClients {
  readonly client: InfluxDB
  readonly org: string
  readonly bucket: string
  /**
   * A new batching writer for the configured bucket. Each caller owns its writer and must
   * `close()` it (which flushes) before exiting.
   */
  readonly writeApi: (precision?: WritePrecisionType, options?: Partial<WriteOptions>) => WriteApi
  /** Flux queries against the configured org. */
  readonly queryApi: QueryApi
}

/**
 * The InfluxDB v2 API clients. The same code works against InfluxDB 1.8 (token `user:password`,
 * bucket `database/retention-policy`, org ignored) and against 2.x or Cloud.
 *
 * @example
 * const influx = createInflux(endpoints.influx)
 * const writer = influx.writeApi('ms')
 * writer.writePoint(new Point('energy').tag('device', id).floatField('wh', 12.5))
 * await writer.close()
 */
export function createInflux(
  endpoint: Endpoints['influx'],
  options: { readonly timeoutMs?: number } = {},
): InfluxClients {
  const client = new InfluxDB({
    url: endpoint.url,
    token: endpoint.token,
    timeout: options.timeoutMs ?? 10_000,
  })
  return {
    client,
    org: endpoint.org,
    bucket: endpoint.bucket,
    writeApi: (precision = 'ms', writeOptions = {}) =>
      client.getWriteApi(endpoint.org, endpoint.bucket, precision, writeOptions),
    queryApi: client.getQueryApi(endpoint.org),
  }
}
