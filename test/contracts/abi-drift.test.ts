import { describe, expect, it } from 'vitest'
import * as committed from '../../contracts/abi/index.ts'
import { compileContracts } from '../../contracts/build/compile.ts'
import { abiContracts, abiExportName } from '../../contracts/build/write-abi.ts'

describe('committed ABI modules (contracts/abi)', () => {
  it('equal what the Solidity sources compile to (else run `npm run contracts:abi`)', () => {
    const output = compileContracts()
    const names = abiContracts(output)
    expect(Object.keys(committed).sort()).toEqual(names.map(abiExportName).sort())
    for (const name of names) {
      const module = (committed as Record<string, unknown>)[abiExportName(name)]
      expect(module, `${name}: run npm run contracts:abi`).toEqual(output.contracts[name]?.abi)
    }
  })
})
