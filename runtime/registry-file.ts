import { readFile } from 'node:fs/promises'
import { GridrootError } from '../core/errors/base.ts'
import { type DeviceRegistry, parseRegistry } from '../core/identity/registry.ts'

/** Reads and parses the device registry file named in configuration. */
export async function loadRegistryFile(path: string): Promise<DeviceRegistry> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new GridrootError('REGISTRY_UNREADABLE', `cannot read the device registry ${path}`, {
      metaMessages: [
        'Point GRIDROOT_REGISTRY_FILE at a registry, e.g. one written by `npm run simulate -- --registry-out FILE --registry-only`.',
      ],
      cause,
    })
  }
  try {
    return parseRegistry(JSON.parse(text))
  } catch (cause) {
    // The registry's own errors name the entry; the file is named here.
    if (cause instanceof GridrootError)
      throw new GridrootError(cause.code, `${path}: ${cause.shortMessage}`, {
        metaMessages: cause.metaMessages,
        cause,
      })
    throw new GridrootError('REGISTRY_INVALID', `the device registry ${path} is not JSON`, { cause })
  }
}
