import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { createInfluxStore } from './influx-store.ts'

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('influx store ping', () => {
  it('says a refused connection is unreachable, not a server that did not answer (attack 9 F2)', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`
    const store = createInfluxStore({ url, token: 'x', org: 'o', bucket: 'db/autogen' }, { gzip: false })
    const problem = await store.ping()
    expect(problem).toBe(`influxdb at ${url} cannot be reached (ECONNREFUSED)`)
    await store.close()
  })
})
