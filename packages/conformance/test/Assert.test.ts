import { assert, describe, it } from "@effect/vitest"
import { InvalidRequest, Unsupported } from "@sandkit/core"
import { Effect } from "effect"
import {
  assertBytesEqual,
  assertDeepEqual,
  assertEqual,
  assertExcludes,
  assertIncludes,
  assertTrue,
  expectFailure,
  expectSuccess,
  expectUnsupported,
  show
} from "../src/Assert.ts"

/** The `AssertionFailed` message of a failing assertion (fails the test if it passed). */
const message = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.flip(effect), (e) => {
    assert.strictEqual((e as { _tag?: string })._tag, "AssertionFailed")
    return (e as unknown as Error).message
  })

const unsupported = (capability: string) => new Unsupported({ provider: "p", capability, message: `no ${capability}` })

describe("assertions", () => {
  it.effect("pass when the expectation holds", () =>
    Effect.gen(function*() {
      yield* assertTrue(true, "t")
      yield* assertEqual("a", "a", "eq")
      yield* assertDeepEqual({ a: [1, { b: "c" }] }, { a: [1, { b: "c" }] }, "deep")
      yield* assertBytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]), "bytes")
      yield* assertIncludes("haystack", "st", "inc")
      yield* assertExcludes("haystack", "needle", "exc")
      const error = yield* expectFailure(Effect.fail(new InvalidRequest({ provider: "p", message: "bad" })), "InvalidRequest", "x")
      assert.strictEqual(error.message, "bad")
      yield* expectUnsupported(Effect.fail(unsupported("pause")), "pause", "u")
      assert.strictEqual(yield* expectSuccess(Effect.succeed(1), "s"), 1)
    }))

  it.effect("fail with a message naming what was expected and what happened", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* message(assertTrue(false, "must hold")), "must hold")
      assert.strictEqual(yield* message(assertEqual(3, 4, "exit code")), "exit code: expected 4, got 3")
      assert.strictEqual(yield* message(assertDeepEqual(["a"], ["a", "b"], "names")), "names: expected [\"a\",\"b\"], got [\"a\"]")
      assert.strictEqual(
        yield* message(assertBytesEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 9, 3]), "file")),
        "file: bytes differ at offset 1 (expected 0x09, got 0x02; lengths 3/3)"
      )
      assert.strictEqual(
        yield* message(assertBytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]), "file")),
        "file: expected 3 bytes, got 2"
      )
      assert.strictEqual(yield* message(assertIncludes("abc", "x", "out")), "out: expected \"abc\" to contain \"x\"")
      assert.strictEqual(yield* message(assertExcludes("abc", "b", "out")), "out: expected \"abc\" not to contain \"b\"")
      assert.strictEqual(
        yield* message(expectFailure(Effect.succeed(5), "CommandTimeout", "exec")),
        "exec: expected CommandTimeout, but it succeeded with 5"
      )
      assert.strictEqual(
        yield* message(expectFailure(Effect.fail(unsupported("spawn")), "CommandTimeout", "exec")),
        "exec: expected CommandTimeout, got Unsupported(\"no spawn\")"
      )
      assert.strictEqual(
        yield* message(expectFailure(Effect.die("boom"), "CommandTimeout", "exec")),
        "exec: expected CommandTimeout, got defect \"boom\""
      )
      assert.strictEqual(
        yield* message(expectUnsupported(Effect.fail(unsupported("files")), "pause", "pause")),
        "pause: expected Unsupported for \"pause\", got Unsupported for \"files\""
      )
      assert.strictEqual(
        yield* message(expectSuccess(Effect.fail(unsupported("files")), "read")),
        "read: expected success, got Unsupported(\"no files\")"
      )
    }))

  it("show keeps values short", () => {
    assert.strictEqual(show(new Uint8Array([0, 255])), "Uint8Array(2)[00 ff]")
    assert.match(show("x".repeat(1000)), /…" \(1000 chars\)$/)
    assert.strictEqual(show(undefined), "undefined")
    assert.strictEqual(show({ a: 1 }), "{\"a\":1}")
  })
})
