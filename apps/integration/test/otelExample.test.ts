/**
 * The documented OpenTelemetry example (`apps/example/src/otel.ts`) run as a user would, in a child `node` process
 * on the workspace sources: it exits 0 and its console export shows Sandkit's spans and metrics, without the env
 * value or file contents the program used.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"

const example = fileURLToPath(new URL("../../example/src/otel.ts", import.meta.url))
const repoRoot = fileURLToPath(new URL("../../..", import.meta.url))

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const runExample = Effect.callback<Run>((resume) => {
  const child = execFile(
    process.execPath,
    ["--conditions=@sandkit/source", example],
    { cwd: repoRoot, timeout: 90_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, NODE_OPTIONS: "" } },
    (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resume(Effect.succeed({ code, stdout, stderr }))
    }
  )
  return Effect.sync(() => void child.kill("SIGINT"))
})

describe("OpenTelemetry console example", () => {
  it.live("runs, exits 0, and prints sandkit spans and metrics (no inputs)", () =>
    Effect.gen(function*() {
      const run = yield* runExample
      assert.strictEqual(run.code, 0, `exit code (stderr: ${run.stderr})`)
      for (const span of ["sandkit.create", "sandkit.exec", "sandkit.files.write", "sandkit.files.read", "sandkit.destroy", "example.otel"]) {
        assert.include(run.stdout, `name: '${span}'`, `span ${span} printed`)
      }
      for (const attribute of ["'sandkit.provider': 'local'", "'sandkit.operation': 'exec'", "'sandkit.sandbox':", "'sandkit.outcome': 'FileNotFound'"]) {
        assert.include(run.stdout, attribute)
      }
      for (const metric of ["sandkit.sandboxes.created", "sandkit.operation.failures", "sandkit.operation.duration"]) {
        assert.include(run.stdout, `name: '${metric}'`, `metric ${metric} printed`)
      }
      assert.include(run.stdout, "error: 'FileNotFound'", "failures by error tag")
      assert.match(run.stdout, /\nok\n?$/)
      for (const input of ["not-in-telemetry", "file contents stay out of telemetry"]) assert.notInclude(run.stdout + run.stderr, input)
    }), 120_000)
})
