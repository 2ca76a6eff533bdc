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
  /**
   * How long the open query that heard least recently from InfluxDB has heard nothing (neither
   * its response headers nor a chunk of the body); 0 when none is open.
   */
  silentForMs(nowMs?: number): number
  /** Cancels every open query: InfluxDB is down (each rejects StoreUnavailableError, `down`). */
  abortAll(reason: string): void
}

/** An open query: when InfluxDB last sent it anything, and how to cancel it. */
interface OpenQuery {
  lastHeardMs: number
  readonly cancel: AbortController
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
  const open = new Set<OpenQuery>()

  const rows = async (
    query: string,
    signal?: AbortSignal,
    timeoutMs = options.timeoutMs,
  ): Promise<RawRow[]> => {
    if (signal?.aborted === true) throw new QueryAbandonedError(signal.reason)
    const timeout = AbortSignal.timeout(timeoutMs)
    const entry: OpenQuery = { lastHeardMs: Date.now(), cancel: new AbortController() }
    const abort = AbortSignal.any(
      signal === undefined ? [timeout, entry.cancel.signal] : [signal, timeout, entry.cancel.signal],
    )
    open.add(entry)
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query, type: 'flux', dialect: DIALECT }),
        signal: abort,
      })
      entry.lastHeardMs = Date.now()
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
      const body = response.body as unknown as AsyncIterable<Uint8Array>
      // Every chunk is a sign of life: a long answer that keeps coming is not a frozen InfluxDB.
      const chunks = (async function* () {
        for await (const chunk of body) {
          entry.lastHeardMs = Date.now()
          yield chunk
        }
      })()
      for await (const { values, tableMeta } of linesToRowsIterable(chunksToLinesIterable(chunks))) {
        const row: Record<string, string> = {}
        for (const [i, column] of tableMeta.columns.entries()) row[column.label] = values[i] ?? ''
        out.push(row)
      }
      return out
    } catch (error) {
      if (error instanceof StoreQueryError || error instanceof StoreUnavailableError) throw error
      if (entry.cancel.signal.aborted)
        throw new StoreUnavailableError(new Error(String(entry.cancel.signal.reason)), { down: true })
      if (abort.aborted && !timeout.aborted) throw new QueryAbandonedError(abort.reason)
      // Refused connection, reset, or the timeout: InfluxDB did not answer.
      throw new StoreUnavailableError(timeout.aborted ? new Error(`no answer in ${timeoutMs} ms`) : error, {
        timedOut: timeout.aborted,
      })
    } finally {
      open.delete(entry)
    }
  }

  return {
    rows,
    inFlight: () => open.size,
    silentForMs(nowMs = Date.now()) {
      let oldest = nowMs
      for (const q of open) oldest = Math.min(oldest, q.lastHeardMs)
      return nowMs - oldest
    },
    abortAll(reason) {
      for (const q of open) q.cancel.abort(reason)
    },
  }
}
