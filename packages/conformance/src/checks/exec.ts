/**
 * `exec`: run to completion, output as data, options (cwd, env, stdin, timeout, maxOutputBytes).
 */
import { Effect } from "effect"
import { OWNER_LABEL, RUN_LABEL } from "@sandkit/core"
import {
  assertDeepEqual,
  assertEqual,
  assertExcludes,
  assertIncludes,
  assertTrue,
  expectFailure,
  expectUnsupported
} from "../Assert.ts"
import { capabilityCheck, CONFORMANCE_LABEL, makeCheck, type ConformanceCheck } from "../Check.ts"
import { assertAbsent, now, ok, within } from "../internal/helpers.ts"

const sandboxInfo = makeCheck("sandbox: info, labels and refresh", (ctx) =>
  Effect.gen(function*() {
    const before = yield* now
    const sandbox = yield* ctx.sandbox()
    yield* assertTrue(typeof sandbox.id === "string" && sandbox.id.length > 0, "the sandbox has a non-empty id")
    yield* assertEqual(sandbox.info.id, sandbox.id, "info.id")
    yield* assertEqual(sandbox.provider, ctx.provider.name, "sandbox.provider")
    yield* assertEqual(sandbox.info.provider, ctx.provider.name, "info.provider")
    yield* assertDeepEqual(sandbox.capabilities, ctx.provider.capabilities, "sandbox.capabilities equal provider.capabilities")
    yield* assertEqual(sandbox.info.state, "running", "info.state right after create")
    const labels = sandbox.info.labels
    yield* assertEqual(labels[CONFORMANCE_LABEL], ctx.labels[CONFORMANCE_LABEL], `info.labels.${CONFORMANCE_LABEL} (the user's label)`)
    yield* assertTrue(typeof labels[OWNER_LABEL] === "string", `info.labels carries ${OWNER_LABEL}`)
    yield* assertTrue(typeof labels[RUN_LABEL] === "string", `info.labels carries ${RUN_LABEL}`)
    yield* assertTrue(sandbox.info.createdAt instanceof Date && !Number.isNaN(sandbox.info.createdAt.getTime()), "info.createdAt is a valid Date")
    // Generous bounds: cloud clocks drift, but a creation time hours off is a unit mistake.
    const created = sandbox.info.createdAt.getTime()
    yield* assertTrue(
      created >= before - 10 * 60_000 && created <= (yield* now) + 10 * 60_000,
      `info.createdAt ${sandbox.info.createdAt.toISOString()} is within minutes of now`
    )
    yield* assertTrue(typeof sandbox.info.workdir === "string" && sandbox.info.workdir.startsWith("/"), `info.workdir ${JSON.stringify(sandbox.info.workdir)} is absolute`)
    const refreshed = yield* sandbox.refresh
    yield* assertEqual(refreshed.id, sandbox.id, "refresh().id")
    yield* assertEqual(refreshed.state, "running", "refresh().state")
    yield* assertEqual(refreshed.labels[CONFORMANCE_LABEL], ctx.labels[CONFORMANCE_LABEL], "refresh().labels")
    const pwd = yield* ok(sandbox, "pwd")
    yield* assertEqual(pwd.stdout, `${sandbox.info.workdir}\n`, "commands start in info.workdir")
  }))

const echo = makeCheck("exec: echo round-trip", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const r = yield* sandbox.exec("echo hello")
    yield* assertEqual(r.exitCode, 0, "exit code of echo")
    yield* assertEqual(r.stdout, "hello\n", "stdout of `echo hello`")
    yield* assertEqual(r.stderr, "", "stderr of `echo hello`")
    yield* assertEqual(r.truncated, false, "truncated")
    yield* assertTrue(typeof r.durationMs === "number" && Number.isFinite(r.durationMs) && r.durationMs >= 0, `durationMs ${r.durationMs} is a finite, non-negative number`)
    const argv = yield* sandbox.exec(["echo", "a  b", "$HOME", "'q'", "ünïcødé ✓"])
    yield* assertEqual(argv.stdout, "a  b $HOME 'q' ünïcødé ✓\n", "argv form passes each argument verbatim, without a shell")
    const shell = yield* sandbox.exec("X=shell; echo \"$X\" | tr a-z A-Z")
    yield* assertEqual(shell.stdout, "SHELL\n", "string form runs through /bin/sh (variables, pipes)")
  }))

const exitCode = makeCheck("exec: non-zero exit code is data, not an error", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const three = yield* sandbox.exec("echo partial; echo oops >&2; exit 3")
    yield* assertEqual(three.exitCode, 3, "exit code of `exit 3`")
    yield* assertIncludes(three.stdout + three.stderr, "partial", "output of a failing command is kept")
    yield* assertIncludes(three.stdout + three.stderr, "oops", "stderr of a failing command is kept")
    const argv = yield* sandbox.exec(["sh", "-c", "exit 42"])
    yield* assertEqual(argv.exitCode, 42, "exit code of argv [sh, -c, exit 42]")
    const falseCmd = yield* sandbox.exec("false")
    yield* assertEqual(falseCmd.exitCode, 1, "exit code of `false`")
  }))

const stdoutStderr = makeCheck("exec: stdout and stderr apart (or merged, as declared)", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const r = yield* sandbox.exec("echo out; echo err >&2")
    if (ctx.capabilities.output === "separate") {
      yield* assertEqual(r.stdout, "out\n", "stdout (output: separate)")
      yield* assertEqual(r.stderr, "err\n", "stderr (output: separate)")
    } else {
      yield* assertIncludes(r.stdout, "out\n", "stdout (output: merged)")
      yield* assertIncludes(r.stdout, "err\n", "stderr text arrives in stdout (output: merged)")
      yield* assertEqual(r.stderr, "", "stderr is empty (output: merged)")
    }
    // Both streams at once, each larger than a pipe buffer: a provider draining one stream before the other deadlocks.
    const size = 300_000
    const big = yield* within(30_000, "exec with 300 KB on each stream")(
      sandbox.exec(`head -c ${size} /dev/zero | tr '\\0' o; head -c ${size} /dev/zero | tr '\\0' e >&2`)
    )
    yield* assertEqual(big.exitCode, 0, "exit code of the large-output command")
    if (ctx.capabilities.output === "separate") {
      yield* assertEqual(big.stdout.length, size, "stdout length")
      yield* assertEqual(big.stderr.length, size, "stderr length")
      yield* assertTrue(/^o+$/.test(big.stdout) && /^e+$/.test(big.stderr), "the streams are not mixed")
    } else {
      yield* assertEqual(big.stdout.length, 2 * size, "merged stdout length")
    }
  }))

const cwd = makeCheck("exec: cwd option", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    yield* ok(sandbox, "mkdir -p sub/dir")
    const relative = yield* ok(sandbox, "pwd", { cwd: "sub/dir" })
    yield* assertEqual(relative.stdout, `${sandbox.info.workdir}/sub/dir\n`, "a relative cwd resolves against info.workdir")
    const absolute = yield* ok(sandbox, "pwd", { cwd: `${sandbox.info.workdir}/sub` })
    yield* assertEqual(absolute.stdout, `${sandbox.info.workdir}/sub\n`, "an absolute cwd")
    yield* ok(sandbox, "echo here > marker.txt", { cwd: "sub" })
    const marker = yield* ok(sandbox, "cat sub/marker.txt")
    yield* assertEqual(marker.stdout, "here\n", "a file written relative to cwd lands there")
    const after = yield* ok(sandbox, "pwd")
    yield* assertEqual(after.stdout, `${sandbox.info.workdir}\n`, "cwd does not stick to later commands")
  }))

const env = makeCheck("exec: env (spec env + exec env, exec env wins)", (ctx) =>
  Effect.gen(function*() {
    const tricky = `it's "quoted" $HOME \`x\` \\ ; & | * ünï`
    const sandbox = yield* ctx.sandbox({ env: { SPEC_ONLY: "from-spec", SHARED: "from-spec" } })
    const print = `printf '%s|%s|%s' "$SPEC_ONLY" "$SHARED" "$EXEC_ONLY"`
    const both = yield* ok(sandbox, print, { env: { SHARED: "from-exec", EXEC_ONLY: tricky } })
    yield* assertEqual(both.stdout, `from-spec|from-exec|${tricky}`, "spec env, exec env overriding it, values passed verbatim")
    const later = yield* ok(sandbox, print)
    yield* assertEqual(later.stdout, "from-spec|from-spec|", "exec env does not stick to later commands")
    const argv = yield* ok(sandbox, ["printenv", "EXEC_ONLY"], { env: { EXEC_ONLY: tricky } })
    yield* assertEqual(argv.stdout, `${tricky}\n`, "exec env reaches an argv command")
  }))

const timeout = makeCheck("exec: timeout fails with CommandTimeout and the process is gone", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const start = yield* now
    const error = yield* expectFailure(
      within(20_000, "exec with a 200 ms timeout")(sandbox.exec("sleep 1; touch late", { timeout: 200 })),
      "CommandTimeout",
      "exec(`sleep 1; touch late`, { timeout: 200 })"
    )
    const elapsed = (yield* now) - start
    yield* assertEqual(error.timeoutMs, 200, "CommandTimeout.timeoutMs")
    yield* assertEqual(error.provider, ctx.provider.name, "CommandTimeout.provider")
    yield* assertTrue(elapsed < 950, `exec returned ${elapsed} ms after the start, expected shortly after the 200 ms timeout`)
    yield* Effect.sleep(Math.max(0, 1_400 - elapsed))
    yield* assertAbsent(sandbox, "late", "the timed-out command kept running")
    const fast = yield* sandbox.exec("echo in-time", { timeout: "10 seconds" })
    yield* assertEqual(fast.stdout, "in-time\n", "a command that ends before its timeout")
  }))

const stdinBytes = Uint8Array.from({ length: 256 }, (_, i) => i)
const hexOf = (data: Uint8Array) => Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("")

const stdin = capabilityCheck(
  "exec: stdin option",
  "stdin",
  (ctx) =>
    Effect.gen(function*() {
      const sandbox = yield* ctx.sandbox()
      const textIn = yield* ok(sandbox, "cat", { stdin: "line one\nline two\n" })
      yield* assertEqual(textIn.stdout, "line one\nline two\n", "text stdin echoed by cat")
      const binary = yield* ok(sandbox, "od -An -v -tx1 | tr -d ' \\n'", { stdin: stdinBytes })
      yield* assertEqual(binary.stdout, hexOf(stdinBytes), "all 256 byte values through stdin")
      const none = yield* within(10_000, "`cat` without stdin")(ok(sandbox, "cat"))
      yield* assertEqual(none.stdout, "", "`cat` without the stdin option reads EOF")
    }),
  (ctx) =>
    Effect.gen(function*() {
      const sandbox = yield* ctx.sandbox()
      yield* expectUnsupported(sandbox.exec("cat", { stdin: "x" }), "stdin", "exec with stdin when stdin is not declared")
      const none = yield* within(10_000, "`cat` without stdin")(ok(sandbox, "cat"))
      yield* assertEqual(none.stdout, "", "`cat` without the stdin option reads EOF")
    })
)

const maxOutput = makeCheck("exec: maxOutputBytes truncates and says so", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const cut = yield* sandbox.exec("head -c 5000 /dev/zero | tr '\\0' x", { maxOutputBytes: 100 })
    yield* assertEqual(cut.truncated, true, "truncated with 5000 bytes of output and maxOutputBytes 100")
    yield* assertTrue(cut.stdout.length > 0 && cut.stdout.length <= 100, `kept ${cut.stdout.length} bytes, expected 1-100`)
    yield* assertExcludes(cut.stdout, "\u0000", "kept output")
    const whole = yield* ok(sandbox, "echo short", { maxOutputBytes: 100 })
    yield* assertEqual(whole.truncated, false, "not truncated under the limit")
    yield* assertEqual(whole.stdout, "short\n", "output under the limit")
  }))

export const execChecks: ReadonlyArray<ConformanceCheck> = [
  sandboxInfo,
  echo,
  exitCode,
  stdoutStderr,
  cwd,
  env,
  timeout,
  stdin,
  maxOutput
]
