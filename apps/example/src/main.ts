/**
 * A tour of Sandkit on the embedded local provider (no account needed): create a sandbox, run commands, move files,
 * stream output, and let the scope destroy the sandbox. Run it with `npx -y pnpm@10 start` from the repository root.
 */
import { RUN_LABEL, SandboxProvider, SandkitRun } from "@sandkit/core"
import { LocalProvider } from "@sandkit/local"
import { Cause, Console, Effect, Exit, Fiber, Stream } from "effect"

const decoder = new TextDecoder()
const label = { app: "sandkit-example" }

const program = Effect.gen(function*() {
  const provider = yield* SandboxProvider
  const caps = provider.capabilities
  yield* Console.log(`provider:      ${provider.name}`)
  yield* Console.log(`isolation:     ${caps.isolation}${caps.isolation === "process" ? " (not a security boundary)" : ""}`)
  yield* Console.log(
    `capabilities:  execStream=${caps.execStream} spawn=${caps.spawn} files=${caps.files} exposePort=${caps.exposePort} ` +
      `pause=${caps.pause} snapshot=${caps.snapshot === true} runCode=[${caps.runCode.join(", ")}]`
  )

  const sandboxId = yield* Effect.scoped(Effect.gen(function*() {
    // Scoped: destroyed when this block ends, whether it succeeds, fails or is interrupted.
    const sandbox = yield* provider.create({ labels: label, env: { GREETING: "hello from the sandbox" } })
    yield* Console.log(`\ncreated        ${sandbox.id} (workdir ${sandbox.info.workdir})`)

    const echo = yield* sandbox.exec(`echo "$GREETING"`)
    yield* Console.log(`exec echo      exit ${echo.exitCode}, stdout ${JSON.stringify(echo.stdout)} (${Math.round(echo.durationMs)} ms)`)

    const failing = yield* sandbox.exec("echo 'something went wrong' >&2; exit 3")
    yield* Console.log(`exec exit 3    exit ${failing.exitCode}, stderr ${JSON.stringify(failing.stderr)} (a non-zero exit is data)`)

    yield* sandbox.files.write("notes/hello.txt", "written by the host\n")
    const text = yield* sandbox.files.readText("notes/hello.txt")
    const seen = yield* sandbox.exec("cat notes/hello.txt | tr a-z A-Z")
    yield* Console.log(`files          wrote and read back ${JSON.stringify(text)}; the sandbox sees ${JSON.stringify(seen.stdout)}`)

    yield* Console.log("execStream     streaming a command's output as it runs:")
    yield* sandbox.execStream("for i in 1 2 3; do echo \"line $i\"; sleep 0.1; done; echo done >&2").pipe(
      Stream.runForEach((event) =>
        event._tag === "Exit"
          ? Console.log(`  [exit]   ${event.exitCode}`)
          : Console.log(`  [${event._tag.toLowerCase()}] ${decoder.decode(event.data).trimEnd().replaceAll("\n", "\n           ")}`)
      )
    )

    // Every sandbox carries sandkit.owner and sandkit.run labels, so this run's sandboxes can be listed (or reaped).
    const run = yield* SandkitRun
    const mine = yield* provider.list({ labels: { ...label, [RUN_LABEL]: run.runId } })
    yield* Console.log(`list           ${mine.map((info) => info.id).join(", ")} carries ${RUN_LABEL}=${run.runId}`)
    return sandbox.id
  }))

  const after = yield* provider.list({ labels: label })
  const gone = !after.some((info) => info.id === sandboxId)
  yield* Console.log(`\nscope closed   ${sandboxId} ${gone ? "was destroyed" : "is STILL listed"}`)
  if (!gone) return yield* Effect.fail(new Error(`sandbox ${sandboxId} outlived its scope`))
})

// Ctrl-C interrupts the program instead of killing it, so the scope still closes and the sandbox is destroyed.
const fiber = Effect.runFork(program.pipe(Effect.provide(LocalProvider.layer())))
const interrupt = () => void Effect.runFork(Fiber.interrupt(fiber))
process.once("SIGINT", interrupt)
process.once("SIGTERM", interrupt)
process.stdout.once("error", interrupt) // e.g. EPIPE when piped into `head`: stop, and still clean up
const exit = await Effect.runPromise(Fiber.await(fiber))
process.off("SIGINT", interrupt)
process.off("SIGTERM", interrupt)
process.stdout.off("error", interrupt)
if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) {
  console.error("\ninterrupted: the scope closed, so the sandbox was destroyed")
  process.exitCode = 130
} else if (Exit.isFailure(exit)) {
  console.error(`\nexample failed:\n${Cause.pretty(exit.cause)}`)
  process.exitCode = 1
} else {
  console.log("\nok")
}
