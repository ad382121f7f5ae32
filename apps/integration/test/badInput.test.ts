/**
 * The bad-input battery (`badInputs.ts`) against every provider: local, and each cloud's adapter over its emulator.
 * For every input: a typed failure (no defect) with the documented tag, no request on the wire (the emulator's log
 * gained nothing during the call), nothing created (the backend's ids unchanged), and nothing run (commands that
 * would leave a file leave none). After the battery the sandbox still works: an exec and a file read succeed.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import type { SandboxError } from "@sandkit/core"
import { Cause, Effect, Exit } from "effect"
import { type BadInput, type Expected, providerInputs, sandboxInputs, type TargetInfo } from "./badInputs.ts"
import { makeTarget, type Target, targetNames } from "./targets.ts"

/** What went wrong with one input, or `undefined` when it behaved. */
const verdict = (expected: Expected, exit: Exit.Exit<unknown, SandboxError>): string | undefined => {
  if (Exit.isSuccess(exit)) return "accepted (no error)"
  if (Cause.hasDies(exit.cause)) return `defect: ${Cause.pretty(exit.cause).split("\n")[0]}`
  const found = Cause.findErrorOption(exit.cause)
  if (found._tag === "None") return `no typed error: ${Cause.pretty(exit.cause).split("\n")[0]}`
  const error = found.value
  if (error._tag !== expected.tag) return `${error._tag} (${error.message.slice(0, 160)}), expected ${expected.tag}`
  switch (expected.tag) {
    case "InvalidRequest": {
      const field = error._tag === "InvalidRequest" ? error.field : undefined
      if (field !== expected.field) return `InvalidRequest.field ${JSON.stringify(field)}, expected ${JSON.stringify(expected.field)}`
      if (!error.message.includes(expected.mentions)) return `message does not name ${JSON.stringify(expected.mentions)}: ${error.message.slice(0, 200)}`
      return undefined
    }
    case "Unsupported": {
      const capability = error._tag === "Unsupported" ? error.capability : undefined
      return capability === expected.capability ? undefined : `Unsupported.capability ${capability}, expected ${expected.capability}`
    }
    case "PermissionDenied":
      return undefined
  }
}

interface Tally {
  tried: number
  skipped: number
  readonly problems: Array<string>
}

/** Run one input against the target: the error, the request count and the backend ids around the call. */
const tryInput = <Ctx>(target: Target, info: TargetInfo, input: BadInput<Ctx>, ctx: Ctx, tally: Tally) =>
  Effect.gen(function*() {
    const expected = typeof input.expect === "function" ? input.expect(info) : input.expect
    if (expected === undefined) {
      tally.skipped++
      return
    }
    tally.tried++
    const idsBefore = yield* target.backendIds
    const requestsBefore = target.requests()
    const exit = yield* Effect.exit(Effect.scoped(input.call(ctx)))
    const sent = target.requests() - requestsBefore
    const idsAfter = yield* target.backendIds
    const problems = [
      verdict(expected, exit),
      sent === 0 ? undefined : `${sent} request(s) reached the emulator`,
      JSON.stringify(idsAfter) === JSON.stringify(idsBefore) ? undefined : `backend changed: ${idsBefore.join(",")} -> ${idsAfter.join(",")}`
    ].filter((p) => p !== undefined)
    for (const problem of problems) tally.problems.push(`[${input.area}] ${input.name}: ${problem}`)
  })

const battery = (target: Target) =>
  Effect.gen(function*() {
    const { provider } = target
    const info: TargetInfo = { name: target.name, capabilities: provider.capabilities }
    const tally: Tally = { tried: 0, skipped: 0, problems: [] }
    const idsAtStart = yield* target.backendIds
    assert.deepStrictEqual(idsAtStart, [], "the backend starts empty")

    for (const input of providerInputs) yield* tryInput(target, info, input, provider, tally)

    yield* Effect.scoped(Effect.gen(function*() {
      const sandbox = yield* provider.create({ labels: { audit: "bad-input" } })
      yield* sandbox.files.write("marker.txt", "still here")
      for (const input of sandboxInputs) yield* tryInput(target, info, input, sandbox, tally)
      // Not corrupted: the sandbox still runs commands and reads files, and no rejected command left a trace.
      const echo = yield* sandbox.exec("echo alive")
      assert.strictEqual(echo.stdout, "alive\n", `${target.name}: exec after the battery`)
      assert.strictEqual(yield* sandbox.files.readText("marker.txt"), "still here", `${target.name}: read after the battery`)
      const listing = yield* sandbox.exec("ls -A")
      if (listing.stdout.includes("badinput-")) tally.problems.push(`files left by rejected calls: ${listing.stdout.replace(/\n/g, " ")}`)
    }))

    // Anything a bad input created is a finding; destroy it so the run ends clean either way.
    for (const id of yield* target.backendIds) {
      tally.problems.push(`sandbox ${id} left after the battery`)
      yield* Effect.ignore(provider.destroy(id))
    }
    assert.deepStrictEqual(yield* provider.list(), [], `${target.name}: list() is empty after the battery`)
    console.log(`bad inputs tried on ${target.name}: ${tally.tried} (${tally.skipped} not applicable), problems: ${tally.problems.length}`)
    assert.deepStrictEqual(tally.problems, [], `${target.name}: inputs that misbehaved`)
    return tally.tried
  })

const triedPerProvider: Record<string, number> = {}

describe("bad-input battery", () => {
  afterAll(() => {
    const total = Object.values(triedPerProvider).reduce((a, b) => a + b, 0)
    if (total > 0) console.log(`bad inputs tried in total: ${total} (${JSON.stringify(triedPerProvider)})`)
  })

  it("has at least 60 distinct inputs", () => {
    const names = [...providerInputs, ...sandboxInputs].map((input) => input.name)
    assert.strictEqual(new Set(names).size, names.length, "input names are unique")
    assert.isAtLeast(names.length, 60)
  })

  for (const name of targetNames) {
    it.live(name, () =>
      Effect.scoped(Effect.flatMap(makeTarget(name), battery)).pipe(
        Effect.tap((tried) => Effect.sync(() => void (triedPerProvider[name] = tried)))
      ), 120_000)
  }
})
