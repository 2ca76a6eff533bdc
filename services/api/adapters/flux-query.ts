/**
 * One Flux query as one `fetch` to InfluxDB's `/api/v2/query`, cancelled when its caller gives
 * up. The client library's QueryApi takes no AbortSignal, so a query the API had abandoned (the
 * client went away, the timeout fired, a sibling query was refused API_BUSY) ran on in InfluxDB
 * for minutes. Aborting the fetch closes the connection; InfluxDB cancels a Flux query whose
 * connection is closed. The annotated CSV is parsed by the library's own line and row iterators.
 */
import { chunksToLinesIterable, linesToRowsIterable } from '@influxdata/influxdb-client'
import type { Endpoints } from '../../../runtime/endpoints.ts'
import { QueryAbandonedError, StoreQueryError, StoreUnavailableError } from '../ports.ts'

export type RawRow = Readonly<Record<string, string>>

export interface FluxQuerier {
  /**
   * Every row of the query's tables as the raw CSV strings. Aborting `signal` cancels the query;
   * `timeoutMs` (default: the querier's) is what is left of the request's time.
   */
  rows(query: string, signal?: AbortSignal, timeoutMs?: number): Promise<RawRow[]>
  /** HTTP queries open to InfluxDB now (sent, answer not read to the end). */
  inFlight(): number
}

/** Statuses of an InfluxDB (or a proxy before it) that cannot take the query now: retry later. */
const UNAVAILABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504])

/** What the client library sends: annotated CSV with a header (datatype, group, default rows). */
const DIALECT = {
  header: true,
  delimiter: ',',
  quoteChar: '"',
  commentPrefix: '#',
  annotations: ['datatype', 'group', 'default'],
} as const

export function createFluxQuerier(
  endpoint: Endpoints['influx'],
  options: { readonly timeoutMs: number },
): FluxQuerier {
  const url = `${endpoint.url.replace(/\/+$/, '')}/api/v2/query?org=${encodeURIComponent(endpoint.org)}`
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    accept: 'application/csv',
    ...(endpoint.token === '' ? {} : { authorization: `Token ${endpoint.token}` }),
  }
  let inFlight = 0

  const rows = async (
    query: string,
    signal?: AbortSignal,
    timeoutMs = options.timeoutMs,
  ): Promise<RawRow[]> => {
    if (signal?.aborted === true) throw new QueryAbandonedError(signal.reason)
    const timeout = AbortSignal.timeout(timeoutMs)
    const abort = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    inFlight++
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query, type: 'flux', dialect: DIALECT }),
        signal: abort,
      })
      if (!response.ok) {
        const body = await response.text()
        // InfluxDB answered: it refused the query (1.8 says 500 for a Flux compile error), unless
        // its status says it is overloaded or a proxy in front of it found no InfluxDB.
        if (UNAVAILABLE_STATUSES.has(response.status)) {
          throw new StoreUnavailableError(new Error(`InfluxDB answered ${response.status}: ${body}`))
        }
        throw new StoreQueryError(response.status, body, new Error(body))
      }
      const out: RawRow[] = []
      if (response.body === null) return out
      const chunks = response.body as unknown as AsyncIterable<Uint8Array>
      for await (const { values, tableMeta } of linesToRowsIterable(chunksToLinesIterable(chunks))) {
        const row: Record<string, string> = {}
        for (const [i, column] of tableMeta.columns.entries()) row[column.label] = values[i] ?? ''
        out.push(row)
      }
      return out
    } catch (error) {
      if (error instanceof StoreQueryError || error instanceof StoreUnavailableError) throw error
      if (abort.aborted && !timeout.aborted) throw new QueryAbandonedError(abort.reason)
      // Refused connection, reset, or the timeout: InfluxDB did not answer.
      throw new StoreUnavailableError(timeout.aborted ? new Error(`no answer in ${timeoutMs} ms`) : error, {
        timedOut: timeout.aborted,
      })
    } finally {
      inFlight--
    }
  }

  return { rows, inFlight: () => inFlight }
}
