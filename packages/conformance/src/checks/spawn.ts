/**
 * `spawn`: background processes with stdin, output, wait and kill, killed when their scope closes.
 */
import { Effect, Fiber, Stream } from "effect"
import { hasCapability } from "@sandkit/core"
import { assertEqual, assertTrue, expectUnsupported } from "../Assert.ts"
import { capabilityCheck, type ConformanceCheck } from "../Check.ts"
import { assertAbsent, bytes, now, outputText, within } from "../internal/helpers.ts"

const io = capabilityCheck("spawn: stdin, output and wait", "spawn", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const separate = ctx.capabilities.output === "separate"
    if (hasCapability(ctx.capabilities, "stdin")) {
      const process = yield* sandbox.spawn(`read line; echo "got:$line"; echo "err:$line" >&2; cat; exit 5`)
      yield* assertTrue(typeof process.pid === "string" && process.pid.length > 0, "the process has a non-empty pid")
      const output = yield* Effect.forkChild(Stream.runCollect(process.output))
      yield* process.write("hello\n")
      yield* process.write(bytes("more"))
      yield* process.closeStdin
      const chunks = yield* within(20_000, "output of the spawned process")(Fiber.join(output))
      const { stderr, stdout } = outputText(chunks)
      if (separate) {
        yield* assertEqual(stdout, "got:hello\nmore", "stdout (a line read, then the rest of stdin until EOF)")
        yield* assertEqual(stderr, "err:hello\n", "stderr")
      } else {
        yield* assertEqual(stdout, "got:hello\nerr:hello\nmore", "merged output")
        yield* assertEqual(stderr, "", "no Stderr chunks (output: merged)")
      }
      const code = yield* within(20_000, "wait")(process.wait)
      yield* assertEqual(code, 5, "wait() returns the exit code")
      yield* assertEqual(yield* within(5_000, "second wait")(process.wait), 5, "a second wait() returns the same code")
    } else {
      const process = yield* sandbox.spawn(`echo "got:nothing"; exit 5`)
      yield* expectUnsupported(process.write("x"), "stdin", "write when stdin is not declared")
      const chunks = yield* within(20_000, "output of the spawned process")(Stream.runCollect(process.output))
      yield* assertEqual(outputText(chunks).stdout, "got:nothing\n", "stdout of the spawned process")
      yield* assertEqual(yield* within(20_000, "wait")(process.wait), 5, "wait() returns the exit code")
    }
  }))

const kill = capabilityCheck("spawn: kill makes wait return", "spawn", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const start = yield* now
    // A child in the background: `kill` must reach it too ("the process and its children").
    const process = yield* sandbox.spawn("(sleep 1; touch spawn-late) & wait")
    yield* Effect.sleep(200)
    yield* process.kill()
    const code = yield* within(5_000, "wait after kill()")(process.wait)
    yield* assertTrue(code !== 0, `exit code after SIGTERM is non-zero (got ${code})`)
    yield* Effect.sleep(Math.max(0, 1_600 - ((yield* now) - start)))
    yield* assertAbsent(sandbox, "spawn-late", "a child of the killed process kept running")
    // A process that ignores SIGTERM still ends with SIGKILL.
    const stubborn = yield* sandbox.spawn("trap '' TERM; while :; do sleep 0.1; done")
    yield* Effect.sleep(200)
    yield* stubborn.kill("SIGKILL")
    const killed = yield* within(5_000, "wait after kill(\"SIGKILL\")")(stubborn.wait)
    yield* assertTrue(killed !== 0, `exit code after SIGKILL is non-zero (got ${killed})`)
  }))

const scopeClose = capabilityCheck("spawn: closing its scope kills the process", "spawn", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const start = yield* now
    yield* Effect.scoped(
      Effect.gen(function*() {
        yield* sandbox.spawn("(sleep 1; touch scope-late) & sleep 1; touch scope-late-parent")
        yield* Effect.sleep(200)
      })
    )
    yield* Effect.sleep(Math.max(0, 1_600 - ((yield* now) - start)))
    yield* assertAbsent(sandbox, "scope-late-parent", "the spawned process outlived its scope")
    yield* assertAbsent(sandbox, "scope-late", "a child of the spawned process outlived its scope")
  }))

export const spawnChecks: ReadonlyArray<ConformanceCheck> = [io, kill, scopeClose]
