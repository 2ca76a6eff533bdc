/**
 * How the project starts a TypeScript entry point as a child process: Node itself with tsx's
 * loader (`node --import tsx file.ts`), not the `tsx` command. The `tsx` command is a parent
 * process that relays signals and SIGKILLs its child when the child does not confirm a signal
 * within 30 ms, which on a loaded machine turns a graceful SIGTERM into a kill.
 */
export function nodeTsArgs(
  entry: string,
  extraNodeArgs: readonly string[] = [],
): { command: string; args: string[] } {
  return { command: process.execPath, args: [...extraNodeArgs, '--import', 'tsx', entry] }
}
