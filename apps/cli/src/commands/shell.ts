/**
 * `sandkit shell <provider>`: an interactive shell in a new sandbox, through `spawn` with standard input streamed in
 * and output streamed back. The sandbox is destroyed when the shell exits, on Ctrl-D, and on Ctrl-C.
 *
 * There is no terminal inside the sandbox (providers stream pipes, not a pty), so line editing and echo are done by
 * the local terminal, and Ctrl-C ends the session (exit 130) rather than being delivered to a command inside.
 * With piped standard input the shell simply reads it as a script: `echo 'ls; exit 3' | sandkit shell local`.
 */
import { Unsupported } from "@sandkit/core"
import { Effect, Fiber, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import { handler } from "../cli.ts"
import { createSandbox, stderr, stdinIsTTY, stdinStream, stdout } from "../io.ts"
import { buildProvider, entryOrUsageError, targetFor, targetLabel } from "../providers.ts"
import { sandboxFlags, specFromFlags } from "./common.ts"
import { providerArgument } from "./exec.ts"

/**
 * `-i` for prompts; `+m` (no job control) where the shell knows it, since job control needs a terminal the sandbox
 * does not have and dash would complain about it.
 */
const interactiveArgs = (shellPath: string): ReadonlyArray<string> => {
  // bash's line editor would echo every line a second time (the local terminal already does).
  if (/(^|\/)bash$/.test(shellPath)) return ["--noediting", "-i", "+m"]
  return /(^|\/)(sh|dash|ash|zsh|ksh|mksh)$/.test(shellPath) ? ["-i", "+m"] : ["-i"]
}

/** What an interactive shell says on stderr when it finds no terminal; true, and useless to the user. */
const NOISE = /can't access tty; job control turned off|no job control in this shell|cannot set terminal process group/

/** Drops the shells' "no job control" lines until the user has typed something. */
const makeNoiseFilter = () => {
  let active = true
  const decoder = new TextDecoder()
  return {
    stop: () => {
      active = false
    },
    apply: (data: Uint8Array): Uint8Array | undefined => {
      if (!active) return data
      const text = decoder.decode(data)
      if (!NOISE.test(text)) return data
      const kept = text.split(/(?<=\n)/).filter((line) => !NOISE.test(line)).join("")
      return kept === "" ? undefined : new TextEncoder().encode(kept)
    }
  }
}

export const shell = Command.make(
  "shell",
  {
    ...sandboxFlags,
    shell: Flag.String("shell").pipe(
      Flag.withMetavar("path"),
      Flag.withDescription("The shell to start in the sandbox (given -i on a terminal)"),
      Flag.withDefault("/bin/sh")
    ),
    provider: providerArgument
  },
  handler("shell", (flags, context) =>
    Effect.gen(function*() {
      const entry = yield* entryOrUsageError(flags.provider, context.command)
      const target = targetFor(entry, context.emulate)
      const label = targetLabel(target)
      const provider = yield* buildProvider(target, context.env)
      const missing = (["spawn", "stdin"] as const).find((capability) => !provider.capabilities[capability])
      if (missing !== undefined) {
        return yield* new Unsupported({
          provider: provider.name,
          capability: missing,
          message: `a shell needs ${missing === "stdin" ? "standard input streaming" : "background processes"}, which ${label} does not have`
        })
      }
      const interactive = stdinIsTTY()
      const sandbox = yield* createSandbox(provider, label, specFromFlags(flags))
      if (interactive) {
        yield* stderr(
          `Connected to ${label} sandbox ${sandbox.id} (isolation: ${sandbox.capabilities.isolation}). ` +
            `'exit', Ctrl-D or Ctrl-C ends the session and destroys the sandbox.\n`
        )
      }
      const shellProcess = yield* sandbox.spawn(
        interactive ? [flags.shell, ...interactiveArgs(flags.shell)] : [flags.shell],
        interactive ? { env: { PS1: `[${label}] $ ` } } : {}
      )
      const noise = makeNoiseFilter()
      const output = yield* Effect.forkChild(
        shellProcess.output.pipe(Stream.runForEach((chunk) => {
          if (chunk._tag === "Stdout") return stdout(chunk.data)
          const kept = interactive ? noise.apply(chunk.data) : chunk.data
          return kept === undefined ? Effect.void : stderr(kept)
        }))
      )
      // Standard input, chunk by chunk as it arrives; its end closes the shell's. The shell may be gone first.
      const input = yield* Effect.forkChild(
        stdinStream.pipe(
          Stream.runForEach((bytes) => Effect.andThen(Effect.sync(noise.stop), shellProcess.write(bytes))),
          Effect.andThen(shellProcess.closeStdin),
          Effect.ignore
        )
      )
      const exitCode = yield* shellProcess.wait
      yield* Fiber.join(output)
      yield* Fiber.interrupt(input)
      return exitCode
    }))
).pipe(
  Command.withShortDescription("An interactive shell in a fresh sandbox, destroyed on exit"),
  Command.withDescription(
    "Start an interactive shell in a new sandbox (providers with spawn + stdin streaming); the sandbox is destroyed " +
      "when the shell exits. Exits with the shell's exit code (130 on Ctrl-C). Piped standard input works too."
  ),
  Command.withExamples([
    { command: "sandkit shell local", description: "A shell in a local sandbox" },
    { command: "sandkit shell e2b --emulate", description: "A shell in the offline E2B emulator" },
    { command: "printf 'uname -a\\nexit 4\\n' | sandkit shell local", description: "A script on standard input; exits 4" }
  ])
)
