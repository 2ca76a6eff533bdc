import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt'
import type { Endpoints } from '../endpoints.ts'

/**
 * Connects with MQTT 5 (shared subscriptions `$share/group/topic`, reason codes) and the
 * configured credentials. Resolves once the broker has acknowledged the connection.
 *
 * @example
 * const client = await connectMqtt(endpoints.mqtt, { clientId: 'ingest-1', clean: false })
 * await client.subscribeAsync('$share/ingest/devices/+/telemetry', { qos: 1 })
 */
export function connectMqtt(endpoint: Endpoints['mqtt'], options: IClientOptions = {}): Promise<MqttClient> {
  return connectAsync(endpoint.url, {
    protocolVersion: 5,
    connectTimeout: 5_000,
    reconnectPeriod: 1_000,
    ...(endpoint.username === undefined ? {} : { username: endpoint.username }),
    ...(endpoint.password === undefined ? {} : { password: endpoint.password }),
    ...options,
  })
}
