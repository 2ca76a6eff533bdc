import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { STACK_ERROR_CODES, StackError } from './errors.ts'
import { runPaths } from './paths.ts'
import { isAlive } from './process.ts'

/**
 * One `stack up` or `stack down` at a time per run folder: two of them would start servers on
 * the same data directories. A lock left by a process that died is taken over.
 */
export function acquireRunDirLock(runDir: string): () => void {
  const { lockFile } = runPaths(runDir)
  mkdirSync(runDir, { recursive: true })
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx')
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return () => rmSync(lockFile, { force: true })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const holder = Number.parseInt(safeRead(lockFile), 10)
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new StackError(
          STACK_ERROR_CODES.runDirBusy,
          `another stack command (pid ${holder}) is using ${runDir}`,
          {
            metaMessages: ['Wait for it to finish, or use another folder with --run-dir.'],
          },
        )
      }
      rmSync(lockFile, { force: true })
    }
  }
  throw new StackError(STACK_ERROR_CODES.runDirBusy, `could not lock ${runDir}`, {
    metaMessages: [`Delete ${lockFile} if no stack command is running.`],
  })
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}
