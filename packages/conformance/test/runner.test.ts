import { assert, describe, expect, it } from "@effect/vitest"
import { SandboxNotFound, SandboxProvider } from "@sandkit/core"
import { Effect, Layer } from "effect"
import {
  assertEqual,
  type ConformanceCheck,
  makeCheck,
  runConformance,
  runConformanceEffect,
  runConformanceMain,
  summaryLine
} from "../src/index.ts"
import { randomPort } from "../src/internal/probes.ts"
import { describeConformance } from "../src/vitest.ts"
import { makeMemoryDriver, memoryLayer } from "./memoryDriver.ts"

const passing = makeCheck("passes", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const r = yield* sandbox.exec("hello")
    yield* assertEqual(r.stdout, "hello", "stdout")
  }))

const failing = makeCheck("fails", () => assertEqual(1, 2, "one"))

const typedError = makeCheck("typed error", (ctx) => ctx.provider.connect("mem-missing"))

const defect = makeCheck("defect", () => Effect.die(new Error("kaboom")))

const leaking = makeCheck("leaks", (ctx) => Effect.asVoid(ctx.provider.createDetached(ctx.spec())))

const slow = makeCheck("slow", (ctx) => Effect.andThen(ctx.sandbox(), Effect.sleep("10 seconds")))

const run = (checks: ReadonlyArray<ConformanceCheck>, options: Parameters<typeof runConformance>[1] = {}) => {
  const lines: Array<string> = []
  const driver = makeMemoryDriver()
  return Effect.map(
    runConformanceEffect(memoryLayer(driver), { ...options, checks, log: (line) => lines.push(line) }),
    (summary) => ({ summary, lines, driver })
  )
}

describe("runConformance", () => {
  it.live("prints one line per check and the summary, and counts failures as failed", () =>
    Effect.gen(function*() {
      const { lines, summary } = yield* run([passing, failing, typedError, defect], { skip: "typed" })
      assert.deepStrictEqual({ passed: summary.passed, failed: summary.failed, skipped: summary.skipped }, {
        passed: 1,
        failed: 2,
        skipped: 1
      })
      assert.strictEqual(lines.length, 5)
      assert.match(lines[0]!, /^✓ passes \(\d+ ms\)$/)
      assert.strictEqual(lines[1], "✗ fails: AssertionFailed: one: expected 2, got 1")
      assert.strictEqual(lines[2], "- typed error (skipped)")
      assert.strictEqual(lines[3], "✗ defect: Defect: Error: kaboom")
      assert.strictEqual(lines[4], "1 passed, 2 failed, 1 skipped")
    }))

  it.live("reports a typed error by tag and message; no skipped count when nothing was skipped", () =>
    Effect.gen(function*() {
      const { lines, summary } = yield* run([typedError, passing])
      assert.strictEqual(summary.failed, 1)
      assert.strictEqual(lines[0], "✗ typed error: SandboxNotFound: no sandbox mem-missing")
      assert.strictEqual(lines.at(-1), "1 passed, 1 failed")
    }))

  it.live("a sandbox left behind fails the check, and is destroyed", () =>
    Effect.gen(function*() {
      const { driver, lines, summary } = yield* run([leaking])
      assert.strictEqual(summary.failed, 1)
      assert.match(lines[0]!, /^✗ leaks: AssertionFailed: leak: after the check's scope closed, list\(\{ labels \}\) still finds mem-1 \(running\)$/)
      assert.strictEqual(driver.sandboxes.size, 0)
    }))

  it.live("a check past the time limit fails with CheckTimeout and its scope still closes", () =>
    Effect.gen(function*() {
      const { driver, lines, summary } = yield* run([slow, passing], { timeout: "100 millis" })
      assert.strictEqual(summary.failed, 1)
      assert.strictEqual(summary.passed, 1)
      assert.match(lines[0]!, /^✗ slow: CheckTimeout: did not finish within /)
      assert.strictEqual(driver.sandboxes.size, 0)
    }))

  it.live("only / skip select by substring or RegExp; labels carry the prefix", () =>
    Effect.gen(function*() {
      let seen: string | undefined
      const labelled = makeCheck("labelled", (ctx) =>
        Effect.gen(function*() {
          const sandbox = yield* ctx.sandbox()
          seen = sandbox.info.labels["conformance"]
        }))
      const { summary } = yield* run([passing, failing, labelled], { only: [/^lab/, "pass"], label: "ci-42" })
      assert.deepStrictEqual([summary.passed, summary.failed, summary.skipped], [2, 0, 1])
      assert.match(seen ?? "", /^ci-42-[0-9a-f]{12}$/)
    }))

  it.live("a provider layer that fails to build fails every selected check", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const broken = Layer.effect(SandboxProvider, Effect.fail(new SandboxNotFound({ provider: "x", message: "no account" })))
      const summary = yield* runConformanceEffect(broken, { checks: [passing, failing], log: (l) => lines.push(l) })
      assert.strictEqual(summary.failed, 2)
      assert.strictEqual(lines[0], "✗ passes: LayerFailed: the provider layer failed: SandboxNotFound: no account")
      assert.strictEqual(lines.at(-1), "0 passed, 2 failed")
    }))

  it("rejects a label prefix that cannot be a label value", async () => {
    await expect(runConformance(memoryLayer(), { checks: [passing], label: "no spaces", log: () => {} })).rejects.toThrow(/label prefix/)
  })

  it("summaryLine", () => {
    assert.strictEqual(summaryLine({ passed: 3, failed: 0, skipped: 0 }), "3 passed, 0 failed")
    assert.strictEqual(summaryLine({ passed: 3, failed: 1, skipped: 2 }), "3 passed, 1 failed, 2 skipped")
  })
})

describe("randomPort", () => {
  it("stays below the ephemeral port ranges, where emulators and clients get their ports", () => {
    for (let i = 0; i < 10_000; i++) {
      const port = randomPort()
      assert.isTrue(Number.isInteger(port) && port >= 1024 && port < 32768, `port ${port}`)
    }
  })
})

describe("runConformanceMain", () => {
  it("sets a non-zero exit code when a check fails, and leaves it alone otherwise", async () => {
    const before = process.exitCode
    try {
      process.exitCode = undefined
      const ok = await runConformanceMain(memoryLayer(), { checks: [passing], log: () => {} })
      assert.strictEqual(ok?.failed, 0)
      assert.strictEqual(process.exitCode, undefined)
      const bad = await runConformanceMain(memoryLayer(), { checks: [passing, failing], log: () => {} })
      assert.strictEqual(bad?.failed, 1)
      assert.strictEqual(process.exitCode, 1)
    } finally {
      process.exitCode = before
    }
  })
})

// The vitest binding itself, on checks that pass against the in-memory driver.
describeConformance("describeConformance (in-memory, runner test only)", memoryLayer(), { checks: [passing], label: "vitest" })
