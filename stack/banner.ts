/**
 * The "gridroot is running" banner of `npm start`. Every service URL in it is built from the
 * port the service is really on (`port(name)`, after reservations and moves), never from the
 * well-known ports: 8080 may be another run's API.
 */
export interface BannerInput {
  readonly runId: string
  readonly fleet: string
  readonly mqtt: string
  readonly kafka: string
  readonly influx: string
  readonly chain: string
  readonly challengeWindowS: number
  readonly artifactsDir: string
  readonly logDir: string
  /** Undefined: the operator key comes from GRIDROOT_API_KEYS. */
  readonly apiKey: string | undefined
  readonly stackStartedHere: boolean
  readonly port: (service: string) => number
}

/** The dashboard link: the operator key in the fragment, which browsers never send to a server. */
export function dashboardUrl(apiPort: number, apiKey: string | undefined): string {
  return `http://127.0.0.1:${apiPort}/${apiKey === undefined ? ' (key from GRIDROOT_API_KEYS)' : `#key=${apiKey}`}`
}

export function formatBanner(b: BannerInput): string {
  const url = (service: string, path: string) => `http://127.0.0.1:${b.port(service)}${path}`
  const signers = [1, 2, 3].map((i) => b.port(`oracle-signer-${i}`)).join(',')
  return `
gridroot is running (run ${b.runId}):
  fleet        ${b.fleet}
  mqtt         ${b.mqtt}
  kafka        ${b.kafka}
  influxdb     ${b.influx}
  chain        ${b.chain}
  dashboard    ${dashboardUrl(b.port('api'), b.apiKey)}
  holder view  ${url('api', '/holder.html')} (dev accounts dev:7 … are the investors)
  api          ${url('api', '/docs')} (OpenAPI; operator key ${b.apiKey ?? 'from GRIDROOT_API_KEYS'})
  metrics      ingest ${url('ingest', '/metrics')}   aggregator ${url('aggregator', '/metrics')}   api ${url('api', '/metrics')}
  oracle       2-of-3, challenge window ${b.challengeWindowS} s   signers http://127.0.0.1:{${signers}}/healthz   submitter ${url('oracle-submitter', '/healthz')}   guardian ${url('oracle-guardian', '/healthz')}   artifacts ${b.artifactsDir}
  distributor  ${url('distributor', '/healthz')}   claim: npm run claim -- --pool <pool> --account dev:7
  logs         ${b.logDir}/{ingest,aggregator,api,simulator,oracle-signer-{1,2,3},oracle-submitter,oracle-guardian,distributor}.log
Ctrl-C stops the services${b.stackStartedHere ? ' and the stack' : ' (the stack was already running and stays up)'}.
`
}
