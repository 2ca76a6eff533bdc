import type { Endpoints } from '../../runtime/endpoints.ts'
import { PREFERRED_PORTS } from '../ports.ts'
import type { ServerName } from '../progress.ts'
import { anvilEndpoint, probeAnvil, startAnvil } from './anvil.ts'
import { influxEndpoint, probeInfluxdb, startInfluxdb } from './influxdb.ts'
import { kafkaEndpoint, probeKafka, startKafka } from './kafka.ts'
import { mosquittoEndpoint, probeMosquitto, startMosquitto } from './mosquitto.ts'
import type { Probe, ServerStartContext, StartedServer } from './types.ts'

export interface ServerDefinition {
  readonly name: ServerName
  readonly preferredPort: number
  /** Extra ports by role; undefined means any free port (they are not part of any endpoint). */
  readonly extraPorts: Readonly<Record<string, number | undefined>>
  readonly start: (ctx: ServerStartContext) => Promise<StartedServer>
  readonly probe: Probe
  /** The address clients use, for the ready message. */
  readonly url: (endpoints: Endpoints) => string
  /** What to try when it will not start or answer, beyond reading its log. */
  readonly fix: string
}

export const SERVERS: Readonly<Record<ServerName, ServerDefinition>> = {
  mosquitto: {
    name: 'mosquitto',
    preferredPort: PREFERRED_PORTS.mosquitto,
    extraPorts: {},
    start: startMosquitto,
    probe: probeMosquitto,
    url: (e) => e.mqtt.url,
    fix: 'A corrupt persistence file is the usual cause: delete <runDir>/mosquitto/data if its sessions are disposable.',
  },
  kafka: {
    name: 'kafka',
    preferredPort: PREFERRED_PORTS.kafka,
    extraPorts: { controller: PREFERRED_PORTS.kafkaController },
    start: startKafka,
    probe: probeKafka,
    url: (e) => e.kafka.brokers.join(','),
    fix: 'Kafka needs about 1 GB of free memory; if the data is disposable, delete <runDir>/kafka and run again.',
  },
  influxdb: {
    name: 'influxdb',
    preferredPort: PREFERRED_PORTS.influxdb,
    extraPorts: { rpc: undefined },
    start: startInfluxdb,
    probe: probeInfluxdb,
    url: (e) => e.influx.url,
    fix: 'If the data is disposable, delete <runDir>/influxdb and run again.',
  },
  anvil: {
    name: 'anvil',
    preferredPort: PREFERRED_PORTS.anvil,
    extraPorts: {},
    start: startAnvil,
    probe: probeAnvil,
    url: (e) => e.chain.rpcUrl,
    fix: 'Run `npm install` to reinstall @foundry-rs/anvil.',
  },
}

/** Endpoints from the client ports of the four servers. */
export function endpointsFromPorts(ports: Readonly<Record<ServerName, number>>): Endpoints {
  return {
    mqtt: mosquittoEndpoint(ports.mosquitto),
    kafka: kafkaEndpoint(ports.kafka),
    influx: influxEndpoint(ports.influxdb),
    chain: anvilEndpoint(ports.anvil),
  }
}
