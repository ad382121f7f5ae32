/**
 * Small helpers shared by the checks.
 */
import { Clock, Effect } from "effect"
import type { ExecResult, OutputChunk, Sandbox } from "@sandkit/core"
import { AssertionFailed, assertEqual, expectFailure } from "../Assert.ts"
import type { CheckContext } from "../Check.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export const bytes = (text: string): Uint8Array => encoder.encode(text)
export const text = (data: Uint8Array): string => decoder.decode(data)

export const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/** `n` random bytes (getRandomValues fills at most 64 KiB per call). */
export const randomBytes = (n: number): Uint8Array => {
  const out = new Uint8Array(n)
  for (let offset = 0; offset < n; offset += 65536) {
    globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(n, offset + 65536)))
  }
  return out
}

/** stdout / stderr text of a list of output chunks. */
export const outputText = (chunks: ReadonlyArray<OutputChunk | { readonly _tag: string }>) => {
  const pick = (tag: "Stdout" | "Stderr") =>
    text(concat(chunks.filter((c): c is OutputChunk => c._tag === tag).map((c) => c.data)))
  return { stdout: pick("Stdout"), stderr: pick("Stderr") }
}

/** Quote for `/bin/sh` (single quotes). */
export const shq = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`

/** Whether `path` exists, asked through `exec` (works whether or not the provider declares `files`). */
export const existsViaExec = (sandbox: Sandbox, path: string) =>
  Effect.flatMap(
    sandbox.exec(`if [ -e ${shq(path)} ]; then echo yes; else echo no; fi`),
    (r) =>
      r.stdout === "yes\n" || r.stdout === "no\n"
        ? Effect.succeed(r.stdout === "yes\n")
        : Effect.fail(new AssertionFailed({ message: `existence probe for ${path} printed ${JSON.stringify(r.stdout)}` }))
  )

/** `path` must not exist in the sandbox. */
export const assertAbsent = (sandbox: Sandbox, path: string, what: string) =>
  Effect.flatMap(existsViaExec(sandbox, path), (exists) => assertEqual(exists, false, `${what}: ${path} exists`))

/** Milliseconds on the real clock. */
export const now = Clock.currentTimeMillis

/** Fail with `AssertionFailed` when `effect` takes longer than `ms`. */
export const within = (ms: number, what: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.timeoutOrElse({
      duration: ms,
      orElse: () => Effect.fail(new AssertionFailed({ message: `${what}: did not finish within ${ms} ms` }))
    })
  )

/** The command must exit 0; returns its result. */
export const ok = (sandbox: Sandbox, command: Parameters<Sandbox["exec"]>[0], options?: Parameters<Sandbox["exec"]>[1]) =>
  Effect.flatMap(sandbox.exec(command, options), (r: ExecResult) =>
    r.exitCode === 0
      ? Effect.succeed(r)
      : Effect.fail(
        new AssertionFailed({ message: `${JSON.stringify(command)} exited ${r.exitCode}: ${JSON.stringify(r.stderr.slice(0, 300))}` })
      ))

/** The sandbox with this id must be gone: not listed under the check's labels, and `connect` says `SandboxNotFound`. */
export const assertGone = (ctx: CheckContext, id: string, what: string) =>
  Effect.gen(function*() {
    const listed = yield* ctx.provider.list({ labels: ctx.labels })
    yield* assertEqual(listed.some((info) => info.id === id), false, `${what}: sandbox ${id} is still listed`)
    yield* expectFailure(ctx.provider.connect(id), "SandboxNotFound", `${what}: connect(${id})`)
  })
