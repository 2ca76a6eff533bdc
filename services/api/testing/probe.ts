import { STUB_KEY, stubApp } from './stub-app.ts'

const app = await stubApp()
for (const url of [
  '/.env',
  '/.git/config',
  '/..%2f..%2fetc/passwd',
  '/%2e%2e/%2e%2e/etc/passwd',
  '/foo%00',
  '/index.html/',
  '/a/../../b',
  '/assets/',
  '/assets/uplot/x',
  '/assets/uplot/../../package.json',
  '/docs/nope',
  '/docs/static/nope',
  '/api/',
  '/%',
  '/foo/.hidden',
  '/' + 'x'.repeat(300),
  '/api/v1/operator/' + 'y'.repeat(300),
]) {
  const r = await app.inject({ method: 'GET', url, headers: { 'x-api-key': STUB_KEY.key } })
  console.log(url.slice(0, 60), r.statusCode, r.body.slice(0, 300))
}
await app.close()
