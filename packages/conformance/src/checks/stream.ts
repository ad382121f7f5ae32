/**
 * `execStream`: output as it happens, then exactly one `Exit`; interrupting the stream kills the process.
 */
import { Deferred, Effect, Fiber, Stream } from "effect"
import type { ExecEvent, OutputChunk } from "@sandkit/core"
import { assertEqual, assertIncludes, assertTrue, fail } from "../Assert.ts"
import { capabilityCheck, type ConformanceCheck } from "../Check.ts"
import { assertAbsent, concat, now, outputText, text, within } from "../internal/helpers.ts"

const order = capabilityCheck("execStream: chunks in order, then exactly one Exit", "execStream", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const start = yield* now
    const stamped = yield* within(30_000, "execStream")(
      sandbox.execStream("printf 'a\\n'; sleep 0.5; printf 'b\\n' >&2; sleep 0.5; printf 'c\\n'; exit 7").pipe(
        Stream.mapEffect((event) => Effect.map(now, (at) => ({ event, at: at - start }))),
        Stream.runCollect
      )
    )
    const events: Array<ExecEvent> = stamped.map((s) => s.event)
    const exits = events.filter((e) => e._tag === "Exit")
    yield* assertEqual(exits.length, 1, "number of Exit events")
    const last = events[events.length - 1]
    if (last === undefined || last._tag !== "Exit") return yield* fail("the last event must be Exit")
    yield* assertEqual(last.exitCode, 7, "Exit.exitCode (a non-zero exit ends the stream normally)")
    for (const event of events) {
      if (event._tag !== "Exit") yield* assertTrue(event.data instanceof Uint8Array, `${event._tag} chunk data is a Uint8Array`)
      else yield* assertTrue(event === last, "Exit comes last")
    }
    const chunks = events.filter((e): e is OutputChunk => e._tag !== "Exit")
    const inOrder = text(concat(chunks.map((c) => c.data)))
    yield* assertEqual(inOrder, "a\nb\nc\n", "all output in arrival order")
    const { stderr, stdout } = outputText(chunks)
    if (ctx.capabilities.output === "separate") {
      yield* assertEqual(stdout, "a\nc\n", "Stdout chunks (output: separate)")
      yield* assertEqual(stderr, "b\n", "Stderr chunks (output: separate)")
    } else {
      yield* assertEqual(stdout, "a\nb\nc\n", "Stdout chunks carry stderr too (output: merged)")
      yield* assertEqual(stderr, "", "no Stderr chunks (output: merged)")
    }
    // Streaming, not buffered: the first chunk must arrive well before the process ends (~1 s later).
    const firstChunk = stamped.find((s) => s.event._tag !== "Exit")
    const exit = stamped[stamped.length - 1]
    if (firstChunk === undefined || exit === undefined) return yield* fail("no output chunk")
    yield* assertTrue(
      exit.at - firstChunk.at >= 600,
      `the first chunk arrived at ${firstChunk.at} ms and Exit at ${exit.at} ms: output is buffered, not streamed`
    )
  }))

const interruption = capabilityCheck("execStream: interruption kills the process", "execStream", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    // 1. The consumer stops after the first chunk (the stream's scope closes under the producer).
    const first = yield* within(20_000, "first chunk of execStream")(
      Stream.runCollect(Stream.take(sandbox.execStream("echo start; sleep 1; echo x > late2"), 1))
    )
    const chunk = first[0]
    if (chunk === undefined || chunk._tag === "Exit") return yield* fail(`expected an output chunk first, got ${JSON.stringify(chunk)}`)
    yield* assertIncludes(text(chunk.data), "start", "the first chunk")
    const afterTake = yield* now
    // 2. The fiber consuming the stream is interrupted.
    const started = yield* Deferred.make<void>()
    const fiber = yield* Effect.forkChild(
      sandbox.execStream("echo start; sleep 1; echo x > late3").pipe(
        Stream.runForEach(() => Deferred.succeed(started, undefined))
      )
    )
    yield* within(20_000, "first chunk of the interrupted execStream")(Deferred.await(started))
    yield* within(20_000, "interrupting the execStream fiber")(Fiber.interrupt(fiber))
    const afterInterrupt = yield* now
    yield* Effect.sleep(Math.max(0, 1_500 - (afterInterrupt - afterTake)))
    yield* assertAbsent(sandbox, "late2", "the process kept running after the stream was taken from and closed")
    yield* Effect.sleep(Math.max(0, 1_500 - ((yield* now) - afterInterrupt)))
    yield* assertAbsent(sandbox, "late3", "the process kept running after its stream fiber was interrupted")
  }))

export const streamChecks: ReadonlyArray<ConformanceCheck> = [order, interruption]
