/**
 * The terminal: writing with back-pressure, reading standard input, asking yes/no, and keeping track of the
 * sandboxes this process has open (so Ctrl-C can say what it is cleaning up).
 */
import type { Sandbox, SandboxError, SandboxProviderShape, SandboxSpecInput } from "@sandkit/core"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Cause, Effect, type Scope, Stream } from "effect"
import { createInterface } from "node:readline"

const writeTo = (stream: NodeJS.WriteStream) => (data: string | Uint8Array): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (stream.destroyed || !stream.writable) return resume(Effect.void)
    if (stream.write(data)) return resume(Effect.void)
    const done = () => {
      stream.off("drain", done)
      stream.off("close", done)
      stream.off("error", done)
      resume(Effect.void)
    }
    stream.on("drain", done)
    stream.on("close", done)
    stream.on("error", done)
  })

export const stdout = writeTo(process.stdout)
export const stderr = writeTo(process.stderr)

export const stdinIsTTY = (): boolean => process.stdin.isTTY === true
export const stderrIsTTY = (): boolean => process.stderr.isTTY === true

/** Standard input as bytes, as it arrives. */
export const stdinStream: Stream.Stream<Uint8Array, Cause.UnknownError> = NodeStream.fromReadable<Uint8Array>({
  evaluate: () => process.stdin,
  closeOnDone: false
})

/** All of standard input (for `exec --stdin`). */
export const readAllStdin: Effect.Effect<Uint8Array> = Effect.promise(async () => {
  const chunks: Array<Uint8Array> = []
  for await (const chunk of process.stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks)
})

/**
 * Ask on the terminal; only `y`/`yes` is yes. End of input is no. Ctrl-C at the prompt is Ctrl-C (the readline
 * interface would otherwise swallow it).
 */
export const confirm = (question: string): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr })
    let answered = false
    rl.on("SIGINT", () => {
      rl.close()
      process.kill(process.pid, "SIGINT")
    })
    rl.on("close", () => {
      if (!answered) {
        answered = true
        process.stderr.write("\n")
        resume(Effect.succeed(false))
      }
    })
    rl.question(question, (answer) => {
      answered = true
      rl.close()
      resume(Effect.succeed(/^\s*y(es)?\s*$/i.test(answer)))
    })
    return Effect.sync(() => rl.close())
  })

// ---------------------------------------------------------------------------------------------------------------
// Sandboxes this process created and has not destroyed yet
// ---------------------------------------------------------------------------------------------------------------

export interface OpenSandbox {
  readonly label: string
  readonly provider: string
  readonly id: string
}

const open = new Map<string, OpenSandbox>()

export const openSandboxes = (): ReadonlyArray<OpenSandbox> => [...open.values()]

/**
 * Create a sandbox destroyed when the scope closes (success, failure, Ctrl-C). The create itself runs
 * uninterruptibly, so a Ctrl-C during it waits for the sandbox and then destroys it. A failed destroy is reported
 * with the command that cleans up after it.
 */
export const createSandbox = (
  provider: SandboxProviderShape,
  label: string,
  spec: SandboxSpecInput
): Effect.Effect<Sandbox, SandboxError, Scope.Scope> =>
  Effect.acquireRelease(
    provider.createDetached(spec).pipe(
      Effect.tap((sandbox) => Effect.sync(() => open.set(`${provider.name}/${sandbox.id}`, { label, provider: provider.name, id: sandbox.id })))
    ),
    (sandbox) =>
      sandbox.destroy.pipe(
        Effect.catchCause((cause) =>
          stderr(
            `sandkit: warning: could not destroy ${label} sandbox ${sandbox.id} (${
              Cause.pretty(cause).split("\n")[0]
            }); 'sandkit reap --provider ${provider.name}' removes it\n`
          )
        ),
        Effect.ensuring(Effect.sync(() => open.delete(`${provider.name}/${sandbox.id}`)))
      )
  )
