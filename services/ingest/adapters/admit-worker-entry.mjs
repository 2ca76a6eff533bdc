// Entry of the admission worker threads. Node 20 does not carry the parent's `--import tsx`
// loader into worker threads, so the worker registers tsx itself before loading its TypeScript.
import { register } from 'tsx/esm/api'

register()
await import('./admit-worker.ts')
