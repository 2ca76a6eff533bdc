import { readFile } from 'node:fs/promises'
import type { TimeGrid } from '../core/epochs/grid.ts'
import { GridrootError } from '../core/errors/base.ts'
import { DEMO_TARIFF_BOOK, parseTariffBook, type TariffBook } from '../core/revenue/tariffs.ts'

/** The tariff book from a JSON file, or the demo book when no file is configured. */
export async function loadTariffBook(path: string | undefined, grid: TimeGrid): Promise<TariffBook> {
  if (path === undefined) return parseTariffBook(DEMO_TARIFF_BOOK, grid)
  let document: unknown
  try {
    document = JSON.parse(await readFile(path, 'utf8'))
  } catch (cause) {
    throw new GridrootError('TARIFFS_UNREADABLE', `cannot read the tariff book ${path}`, {
      metaMessages: [
        'Point GRIDROOT_TARIFFS_FILE at a JSON tariff book (see docs/architecture.md, "Tariffs").',
      ],
      cause,
    })
  }
  return parseTariffBook(document, grid)
}
