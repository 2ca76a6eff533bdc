/**
 * Where the servers are. Every service and test takes these from configuration so that the
 * same code runs against the local stack, an existing Kafka cluster, InfluxDB 2.x/Cloud and a
 * real chain. The local stack writes them as environment variables (see `endpointsToEnv`).
 */
export interface Endpoints {
  readonly mqtt: { readonly url: string; readonly username?: string; readonly password?: string }
  readonly kafka: { readonly brokers: readonly string[] }
  /**
   * InfluxDB v2 API. Against 1.8: token `user:password` (any token when auth is off), org
   * ignored, bucket `database/retention-policy`.
   */
  readonly influx: {
    readonly url: string
    readonly token: string
    readonly org: string
    readonly bucket: string
  }
  readonly chain: { readonly rpcUrl: string; readonly chainId: number }
}

/** The environment variable names that carry the endpoints (also listed in .env.example). */
export const ENDPOINT_ENV = {
  mqttUrl: 'GRIDROOT_MQTT_URL',
  mqttUsername: 'GRIDROOT_MQTT_USERNAME',
  mqttPassword: 'GRIDROOT_MQTT_PASSWORD',
  kafkaBrokers: 'GRIDROOT_KAFKA_BROKERS',
  influxUrl: 'GRIDROOT_INFLUX_URL',
  influxToken: 'GRIDROOT_INFLUX_TOKEN',
  influxOrg: 'GRIDROOT_INFLUX_ORG',
  influxBucket: 'GRIDROOT_INFLUX_BUCKET',
  rpcUrl: 'GRIDROOT_RPC_URL',
  chainId: 'GRIDROOT_CHAIN_ID',
} as const

export function endpointsToEnv(e: Endpoints): Record<string, string> {
  const env: Record<string, string> = {
    [ENDPOINT_ENV.mqttUrl]: e.mqtt.url,
    [ENDPOINT_ENV.kafkaBrokers]: e.kafka.brokers.join(','),
    [ENDPOINT_ENV.influxUrl]: e.influx.url,
    [ENDPOINT_ENV.influxToken]: e.influx.token,
    [ENDPOINT_ENV.influxOrg]: e.influx.org,
    [ENDPOINT_ENV.influxBucket]: e.influx.bucket,
    [ENDPOINT_ENV.rpcUrl]: e.chain.rpcUrl,
    [ENDPOINT_ENV.chainId]: String(e.chain.chainId),
  }
  if (e.mqtt.username !== undefined) env[ENDPOINT_ENV.mqttUsername] = e.mqtt.username
  if (e.mqtt.password !== undefined) env[ENDPOINT_ENV.mqttPassword] = e.mqtt.password
  return env
}
