// A stand-in for a gridroot service in stack tests: binds 127.0.0.1 on the port in
// $FAKE_SERVICE_PORT_ENV's variable and answers /healthz 200 with its pid. A taken port makes
// it fail as a real service does: Node's `listen EADDRINUSE` error, exit code 1.
import { createServer } from 'node:http'

const variable = process.env.FAKE_SERVICE_PORT_ENV ?? 'PORT'
const port = Number(process.env[variable])
const server = createServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ ok: true, pid: process.pid }))
})
server.once('error', (error) => {
  console.error(JSON.stringify({ level: 'fatal', msg: 'start-up failed', err: { message: error.message } }))
  process.exit(1)
})
server.listen(port, '127.0.0.1', () => console.log(`listening on ${port}`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
