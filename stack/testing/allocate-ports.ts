/**
 * One `npm start`'s port allocation in a process of its own, for the test of two runs racing:
 * `node --import tsx allocate-ports.ts <reservations dir> <start at ms> <preferred port>…`
 * waits until the given time, takes a port per preferred port and prints them as JSON. It keeps
 * its reservations until stdin closes, as a run keeps them while it runs.
 */
import { createPortReservations } from '../port-reservations.ts'
import { createServicePorts } from '../service-ports.ts'

const [dir = '', startAtMs = '0', ...preferred] = process.argv.slice(2)
const ports = createServicePorts({
  reservations: createPortReservations({ dir }),
  owner: `pid ${process.pid}`,
})
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAtMs) - Date.now())))
const taken: number[] = []
for (const [i, port] of preferred.entries()) taken.push(await ports.take(`service-${i}`, Number(port)))
console.log(JSON.stringify(taken))
process.stdin.resume()
process.stdin.on('end', () => {
  ports.releaseAll()
  process.exit(0)
})
