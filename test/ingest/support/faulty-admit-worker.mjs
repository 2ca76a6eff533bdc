// An admission worker that fails on purpose, for tests of the pool and of ingest's /healthz: a
// hand-off with a message for device `crash-worker` throws (the thread dies), one
// for device `hang-worker` loops for good, one for device `answer-then-crash` is answered and
// then the thread dies (its answer is on its way when the error is); while the file named by
// GRIDROOT_TEST_WORKER_FAULT_FILE says `crash-at-start`, a starting worker dies at once. The rest
// is the real worker (services/ingest/adapters/admit-worker.ts).
import { readFileSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

const faultFile = process.env.GRIDROOT_TEST_WORKER_FAULT_FILE
const fault = () => {
  try {
    return faultFile ? readFileSync(faultFile, 'utf8').trim() : ''
  } catch {
    return ''
  }
}
if (fault() === 'crash-at-start') throw new Error('admission worker crashing at start on purpose')

// The fault runs in front of the real worker's own handler, for every hand-off (a second
// listener would take hand-offs that arrive before the real one is attached, and lose them).
const on = parentPort.on.bind(parentPort)
parentPort.on = (event, listener) =>
  on(
    event,
    event !== 'message'
      ? listener
      : (request) => {
          if (request.topics?.some((t) => t.includes('/crash-worker/'))) {
            throw new Error('admission worker crashing on purpose')
          }
          if (request.topics?.some((t) => t.includes('/hang-worker/'))) for (;;);
          if (request.topics?.some((t) => t.includes('/answer-then-crash/'))) {
            listener(request)
            throw new Error('admission worker crashing on purpose after its answer')
          }
          listener(request)
        },
  )
register()
await import('../../../services/ingest/adapters/admit-worker.ts')
