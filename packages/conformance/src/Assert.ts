/**
 * Assertions for conformance checks: plain functions returning Effects that fail with `AssertionFailed`. They do not
 * depend on any test framework, so the same checks run under vitest, the plain runner, Bun and Deno.
 */
import { Cause, Data, Effect, Exit } from "effect"

/** A conformance expectation did not hold. `message` says what was expected and what happened instead. */
export class AssertionFailed extends Data.TaggedError("AssertionFailed")<{
  readonly message: string
  readonly expected?: unknown
  readonly actual?: unknown
}> {}

const MAX_SHOWN = 200

/** A short, single-line rendering of a value for an assertion message. */
export const show = (value: unknown): string => {
  if (value instanceof Uint8Array) {
    const head = Array.from(value.subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join(" ")
    return `Uint8Array(${value.length})[${head}${value.length > 16 ? " …" : ""}]`
  }
  if (typeof value === "string") {
    const json = JSON.stringify(value)
    return json.length > MAX_SHOWN ? `${json.slice(0, MAX_SHOWN)}…" (${value.length} chars)` : json
  }
  if (value instanceof Error) {
    const tag = "_tag" in value && typeof value._tag === "string" ? value._tag : value.name
    return `${tag}(${JSON.stringify(value.message)})`
  }
  if (typeof value === "bigint") return `${value}n`
  if (typeof value === "undefined") return "undefined"
  if (typeof value === "function") return `[function ${value.name || "anonymous"}]`
  try {
    const json = JSON.stringify(value)
    if (json === undefined) return String(value)
    return json.length > MAX_SHOWN ? `${json.slice(0, MAX_SHOWN)}…` : json
  } catch {
    return String(value)
  }
}

/** Fail with `AssertionFailed`. */
export const fail = (message: string, details: { readonly expected?: unknown; readonly actual?: unknown } = {}) =>
  Effect.fail(new AssertionFailed({ message, ...details }))

/** `condition` must hold. */
export const assertTrue = (condition: boolean, message: string): Effect.Effect<void, AssertionFailed> =>
  condition ? Effect.void : fail(message)

/** Strict equality (`Object.is`). */
export const assertEqual = <A>(actual: A, expected: A, what: string): Effect.Effect<void, AssertionFailed> =>
  Object.is(actual, expected)
    ? Effect.void
    : fail(`${what}: expected ${show(expected)}, got ${show(actual)}`, { expected, actual })

/** Structural equality of JSON-like values (arrays, plain objects, strings, numbers, booleans, null). */
export const assertDeepEqual = (actual: unknown, expected: unknown, what: string): Effect.Effect<void, AssertionFailed> =>
  deepEqual(actual, expected)
    ? Effect.void
    : fail(`${what}: expected ${show(expected)}, got ${show(actual)}`, { expected, actual })

const deepEqual = (a: unknown, b: unknown): boolean => {
  if (Object.is(a, b)) return true
  if (a instanceof Uint8Array && b instanceof Uint8Array) return firstDifference(a, b) === -1
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]))
  if (typeof a === "object" && typeof b === "object" && a !== null && b !== null && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a).sort()
    const kb = Object.keys(b).sort()
    return deepEqual(ka, kb) && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  }
  return false
}

/** Index of the first differing byte, the shorter length when one is a prefix of the other, or -1 when equal. */
export const firstDifference = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return a.length === b.length ? -1 : n
}

/** Byte-for-byte equality, reporting the first differing offset. */
export const assertBytesEqual = (actual: Uint8Array, expected: Uint8Array, what: string): Effect.Effect<void, AssertionFailed> => {
  if (!(actual instanceof Uint8Array)) return fail(`${what}: expected a Uint8Array, got ${show(actual)}`)
  const at = firstDifference(actual, expected)
  if (at === -1) return Effect.void
  return fail(
    actual.length !== expected.length && at === Math.min(actual.length, expected.length)
      ? `${what}: expected ${expected.length} bytes, got ${actual.length}`
      : `${what}: bytes differ at offset ${at} (expected 0x${hex(expected[at])}, got 0x${hex(actual[at])}; lengths ${expected.length}/${actual.length})`
  )
}

const hex = (b: number | undefined) => b === undefined ? "--" : b.toString(16).padStart(2, "0")

/** `haystack` must contain `needle`. */
export const assertIncludes = (haystack: string, needle: string, what: string): Effect.Effect<void, AssertionFailed> =>
  typeof haystack === "string" && haystack.includes(needle)
    ? Effect.void
    : fail(`${what}: expected ${show(haystack)} to contain ${show(needle)}`, { expected: needle, actual: haystack })

/** `haystack` must not contain `needle`. */
export const assertExcludes = (haystack: string, needle: string, what: string): Effect.Effect<void, AssertionFailed> =>
  typeof haystack === "string" && !haystack.includes(needle)
    ? Effect.void
    : fail(`${what}: expected ${show(haystack)} not to contain ${show(needle)}`, { actual: haystack })

const describeCause = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") return show(error.value)
  if (Cause.hasInterruptsOnly(cause)) return "interruption"
  return `defect ${show(Cause.squash(cause))}`
}

/**
 * `effect` must fail with an error whose `_tag` is `tag`; succeeds with that error. A success, a defect or another
 * error fails the assertion.
 */
export const expectFailure = <Tag extends string, A, E, R>(
  effect: Effect.Effect<A, E, R>,
  tag: Tag,
  what: string
): Effect.Effect<Extract<E, { readonly _tag: Tag }>, AssertionFailed, R> =>
  Effect.flatMap(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) {
      return fail(`${what}: expected ${tag}, but it succeeded with ${show(exit.value)}`)
    }
    const error = Cause.findErrorOption(exit.cause)
    if (error._tag === "Some" && typeof error.value === "object" && error.value !== null && "_tag" in error.value && error.value._tag === tag) {
      return Effect.succeed(error.value as Extract<E, { readonly _tag: Tag }>)
    }
    return fail(`${what}: expected ${tag}, got ${describeCause(exit.cause)}`)
  })

/** `effect` must fail with `Unsupported` naming `capability`. */
export const expectUnsupported = <A, E, R>(effect: Effect.Effect<A, E, R>, capability: string, what: string) =>
  Effect.flatMap(expectFailure(effect, "Unsupported", what), (error) => {
    const actual = (error as { readonly capability?: unknown }).capability
    return actual === capability
      ? Effect.succeed(error)
      : fail(`${what}: expected Unsupported for ${show(capability)}, got Unsupported for ${show(actual)}`)
  })

/** `effect` must succeed; a failure is reported as an assertion naming `what`. */
export const expectSuccess = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string): Effect.Effect<A, AssertionFailed, R> =>
  Effect.flatMap(Effect.exit(effect), (exit) =>
    Exit.isSuccess(exit) ? Effect.succeed(exit.value) : fail(`${what}: expected success, got ${describeCause(exit.cause)}`))
