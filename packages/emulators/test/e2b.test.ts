/**
 * Every route of the E2B emulator, driven by the real `e2b` / `@e2b/code-interpreter` SDKs (no Sandkit adapter in
 * between): what an SDK user sees offline.
 */
import { Sandbox } from "@e2b/code-interpreter"
import { get } from "node:http"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { E2bEmulator } from "../src/e2b/index.ts"

type Emulator = Awaited<ReturnType<typeof E2bEmulator.start>>

let emulator: Emulator
const opts = () => emulator.sdkOptions

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const until = async (what: string, predicate: () => boolean | Promise<boolean>) => {
  for (let i = 0; i < 500; i++) {
    if (await predicate()) return
    await settle(10)
  }
  throw new Error(`timed out waiting until ${what}`)
}

beforeAll(async () => {
  emulator = await E2bEmulator.start({ apiKey: "e2b_emulator_tests" })
})
afterAll(async () => {
  await emulator.close()
})
afterEach(async () => {
  await emulator.reset()
})

describe("control plane", () => {
  it("create, getInfo, list (metadata, state, pages), setTimeout, pause, connect (resume), kill", async () => {
    const a = await Sandbox.create({ ...opts(), metadata: { team: "x", "k y": "v&w" }, timeoutMs: 120_000 })
    const b = await Sandbox.create("base", { ...opts(), metadata: { team: "x" } })
    await Sandbox.create({ ...opts(), metadata: { team: "other" } })
    const info = await a.getInfo()
    expect(info.sandboxId).toBe(a.sandboxId)
    expect(info.templateId).toBe("code-interpreter-v1")
    expect(info.metadata).toEqual({ team: "x", "k y": "v&w" })
    expect(info.state).toBe("running")
    expect(Math.abs(info.endAt.getTime() - info.startedAt.getTime() - 120_000)).toBeLessThan(5_000)
    expect((await b.getInfo()).templateId).toBe("base")

    const byTeam = await Sandbox.list({ ...opts(), query: { metadata: { team: "x" } } }).nextItems()
    expect(byTeam.map((s) => s.sandboxId).sort()).toEqual([a.sandboxId, b.sandboxId].sort())
    const escaped = await Sandbox.list({ ...opts(), query: { metadata: { "k y": "v&w" } } }).nextItems()
    expect(escaped.map((s) => s.sandboxId)).toEqual([a.sandboxId])
    const pager = Sandbox.list({ ...opts(), limit: 2 })
    const pages: Array<number> = []
    while (pager.hasNext) pages.push((await pager.nextItems()).length)
    expect(pages).toEqual([2, 1])

    await a.setTimeout(30_000)
    const shorter = await a.getInfo()
    expect(Math.abs(shorter.endAt.getTime() - Date.now() - 30_000)).toBeLessThan(5_000)
    expect(await a.pause()).toBe(true)
    expect(await a.pause()).toBe(false)
    expect((await a.getInfo()).state).toBe("paused")
    expect(await a.isRunning()).toBe(false)
    const paused = await Sandbox.list({ ...opts(), query: { state: ["paused"] } }).nextItems()
    expect(paused.map((s) => s.sandboxId)).toEqual([a.sandboxId])
    const resumed = await Sandbox.connect(a.sandboxId, opts())
    expect((await resumed.getInfo()).state).toBe("running")
    expect((await resumed.commands.run("echo back")).stdout).toBe("back\n")

    expect(await a.kill()).toBe(true)
    expect(await Sandbox.kill(a.sandboxId, opts())).toBe(false)
    await expect(Sandbox.getInfo(a.sandboxId, opts())).rejects.toThrow(/not found/)
    await expect(Sandbox.connect(a.sandboxId, opts())).rejects.toMatchObject({ name: "SandboxNotFoundError" })
    expect(emulator.log.count("create")).toBe(3)
    await expect(Sandbox.create("no-such-template", opts())).rejects.toThrow(/404: template 'no-such-template' not found/)
  })

  it("a wrong API key is 401 (AuthenticationError), a wrong envd token 401 on envd", async () => {
    await expect(Sandbox.create({ ...opts(), apiKey: "e2b_wrong" })).rejects.toMatchObject({ name: "AuthenticationError" })
    const sandbox = await Sandbox.create(opts())
    const forged = new Sandbox({ ...opts(), sandboxId: sandbox.sandboxId, envdVersion: "0.5.7", envdAccessToken: "forged" })
    await expect(forged.commands.run("true")).rejects.toMatchObject({ name: "AuthenticationError" })
    await expect(forged.files.read("x")).rejects.toMatchObject({ name: "AuthenticationError" })
    expect(await forged.isRunning()).toBe(true)
  })
})

describe("envd: processes", () => {
  it("run: stdout, stderr, env, cwd, exit codes (CommandExitError)", async () => {
    const sandbox = await Sandbox.create({ ...opts(), envs: { FROM_SPEC: "spec" } })
    const r = await sandbox.commands.run("echo $FROM_SPEC $FROM_RUN; pwd; echo err >&2", { envs: { FROM_RUN: "run" } })
    const home = (await sandbox.files.getInfo("")).path
    expect(r).toMatchObject({ exitCode: 0, stdout: `spec run\n${home}\n`, stderr: "err\n" })
    await sandbox.files.makeDir("sub")
    expect((await sandbox.commands.run("pwd", { cwd: "sub" })).stdout).toBe(`${home}/sub\n`)
    expect((await sandbox.commands.run("pwd", { cwd: "/home/user/sub" })).stdout).toBe(`${home}/sub\n`)
    await expect(sandbox.commands.run("echo partial; exit 3")).rejects.toMatchObject({
      name: "CommandExitError",
      exitCode: 3,
      stdout: "partial\n",
      error: "exit status 3"
    })
    await expect(sandbox.commands.run("true", { cwd: "missing" })).rejects.toMatchObject({ name: "InvalidArgumentError" })
  })

  it("background: stdin, closeStdin, connect to a running process, list, kill", async () => {
    const sandbox = await Sandbox.create(opts())
    const seen: Array<string> = []
    const handle = await sandbox.commands.run("read l; echo got:$l; cat", { background: true, stdin: true, onStdout: (d) => void seen.push(d) })
    const listed = await sandbox.commands.list()
    expect(listed.map((p) => p.pid)).toContain(handle.pid)
    expect(listed.find((p) => p.pid === handle.pid)).toMatchObject({ cmd: "/bin/bash" })
    await sandbox.commands.sendStdin(handle.pid, "hello\n")
    const second = await sandbox.commands.connect(handle.pid)
    await sandbox.commands.sendStdin(handle.pid, new TextEncoder().encode("bytes"))
    await sandbox.commands.closeStdin(handle.pid)
    expect(await handle.wait()).toMatchObject({ exitCode: 0, stdout: "got:hello\nbytes" })
    expect((await second.wait()).exitCode).toBe(0)
    expect(seen.join("")).toBe("got:hello\nbytes")

    const sleeper = await sandbox.commands.run("sleep 30", { background: true })
    expect(await sandbox.commands.kill(sleeper.pid)).toBe(true)
    await expect(sleeper.wait()).rejects.toMatchObject({ name: "CommandExitError", exitCode: -1, error: "signal: killed" })
    expect(await sandbox.commands.kill(sleeper.pid)).toBe(false)
  })

  it("streaming: output arrives while the command runs; timeoutMs kills the process", async () => {
    const sandbox = await Sandbox.create(opts())
    const chunks: Array<string> = []
    const handle = await sandbox.commands.run("echo first; sleep 0.3; echo second", { background: true, onStdout: (d) => void chunks.push(d) })
    await until("the first chunk", () => chunks.length > 0)
    expect(chunks).toEqual(["first\n"])
    await handle.wait()
    expect(chunks.join("")).toBe("first\nsecond\n")
    await expect(sandbox.commands.run("sleep 30", { timeoutMs: 200 })).rejects.toMatchObject({ name: "TimeoutError" })
    await until("the timed-out process to end", async () => (await sandbox.commands.list()).length === 0)
  })
})

describe("envd: files", () => {
  it("write/read (text, bytes, empty), list with depth, stat, makeDir, exists, rename, remove", async () => {
    const sandbox = await Sandbox.create(opts())
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i)
    await sandbox.files.write("d/all.bin", bytes.buffer)
    expect(await sandbox.files.read("d/all.bin", { format: "bytes" })).toEqual(bytes)
    await sandbox.files.write("d/empty.txt", "")
    expect(await sandbox.files.read("d/empty.txt")).toBe("")
    await sandbox.files.write("/home/user/d/deep/x.txt", "x")
    expect((await sandbox.files.list("d")).map((e) => `${e.name}:${e.type}`).sort()).toEqual(["all.bin:file", "deep:dir", "empty.txt:file"])
    expect((await sandbox.files.list("d", { depth: 2 })).map((e) => e.name).sort()).toEqual(["all.bin", "deep", "empty.txt", "x.txt"])
    const stat = await sandbox.files.getInfo("d/all.bin")
    expect(stat).toMatchObject({ name: "all.bin", type: "file", size: 256 })
    expect(stat.modifiedTime).toBeInstanceOf(Date)
    expect(await sandbox.files.makeDir("d/new/dir")).toBe(true)
    expect(await sandbox.files.makeDir("d/new/dir")).toBe(false)
    expect(await sandbox.files.exists("d/new/dir")).toBe(true)
    expect(await sandbox.files.exists("nope")).toBe(false)
    expect((await sandbox.files.rename("d/empty.txt", "d/moved.txt")).name).toBe("moved.txt")
    await sandbox.files.remove("d/new")
    expect(await sandbox.files.exists("d/new")).toBe(false)
    await expect(sandbox.files.read("nope.txt")).rejects.toMatchObject({ name: "FileNotFoundError" })
    await expect(sandbox.files.list("nope")).rejects.toMatchObject({ name: "FileNotFoundError" })
    await expect(sandbox.files.getInfo("nope")).rejects.toMatchObject({ name: "FileNotFoundError" })
  })

  it("multi-file multipart upload, octet-stream and gzip uploads, streamed download", async () => {
    const sandbox = await Sandbox.create(opts())
    const written = await sandbox.files.write([{ path: "m/a.txt", data: "a" }, { path: "m/b/c.txt", data: "cc" }])
    expect(written.map((w) => w.name)).toEqual(["a.txt", "c.txt"])
    await sandbox.files.write("o.txt", "octet", { useOctetStream: true })
    await sandbox.files.write("g.txt", "gzipped", { gzip: true })
    expect(await sandbox.files.read("o.txt")).toBe("octet")
    expect(await sandbox.files.read("g.txt")).toBe("gzipped")
    expect((await sandbox.commands.run("cat m/b/c.txt")).stdout).toBe("cc")
    const stream = await sandbox.files.read("m/b/c.txt", { format: "stream" })
    expect(await new Response(stream).text()).toBe("cc")
  })
})

describe("code interpreter", () => {
  it("runCode: main result, stdout/stderr, errors with traceback, state kept, env_vars", async () => {
    const sandbox = await Sandbox.create(opts())
    const first = await sandbox.runCode("import sys\nx = 41\nprint('out')\nprint('err', file=sys.stderr)\nx + 1")
    expect(first.text).toBe("42")
    expect(first.logs).toEqual({ stdout: ["out\n"], stderr: ["err\n"] })
    expect(first.error).toBeUndefined()
    expect((await sandbox.runCode("x")).text).toBe("41")
    const failed = await sandbox.runCode("def f():\n    return 1 / 0\nf()")
    expect(failed.error).toMatchObject({ name: "ZeroDivisionError", value: "division by zero" })
    expect(failed.error?.traceback).toMatch(/line 2, in f/)
    const syntax = await sandbox.runCode("def (:")
    expect(syntax.error?.name).toBe("SyntaxError")
    expect((await sandbox.runCode("import os; os.environ.get('K')", { envs: { K: "v" } })).text).toBe("'v'")
    expect((await sandbox.runCode("import os; os.environ.get('K')")).text).toBeUndefined()
    const raw = await sandbox.runCode("import os\nos.system('echo from-child')")
    expect(raw.logs.stdout.join("")).toContain("from-child")
    await expect(sandbox.runCode("1", { language: "cobol" })).rejects.toMatchObject({ name: "SandboxError" })
  })

  it("contexts: create, separate state, list, restart, remove", async () => {
    const sandbox = await Sandbox.create(opts())
    const one = await sandbox.createCodeContext({ language: "python" })
    const two = await sandbox.createCodeContext()
    await sandbox.runCode("v = 'one'", { context: one })
    await sandbox.runCode("v = 'two'", { context: two })
    expect((await sandbox.runCode("v", { context: one })).text).toBe("'one'")
    expect((await sandbox.runCode("v", { context: two })).text).toBe("'two'")
    expect((await sandbox.listCodeContexts()).map((c) => c.id)).toEqual(expect.arrayContaining([one.id, two.id]))
    await sandbox.restartCodeContext(one)
    expect((await sandbox.runCode("v", { context: one })).error?.name).toBe("NameError")
    await sandbox.removeCodeContext(two.id)
    await expect(sandbox.runCode("v", { context: two })).rejects.toMatchObject({ name: "NotFoundError" })
  })
})

describe("ports, health and faults seen through the SDK", () => {
  it("a server inside the sandbox is reachable by Host header and by portUrl", async () => {
    const sandbox = await Sandbox.create(opts())
    const port = 20000 + Math.floor(Math.random() * 20000)
    await sandbox.files.write("www/hi.txt", "hi there")
    await sandbox.commands.run(`exec python3 -m http.server ${port} --bind 127.0.0.1`, { background: true, cwd: "www" })
    const url = `${emulator.portUrl({ sandboxId: sandbox.sandboxId, port })}/hi.txt`
    await until("the server answers", () => fetch(url).then((r) => r.ok, () => false))
    expect(await (await fetch(url)).text()).toBe("hi there")
    // fetch will not set Host; node:http will (as a client resolving <port>-<id>.<domain> to the emulator would).
    const viaHost = await new Promise<string>((resolve, reject) => {
      get(`${emulator.url}/hi.txt`, { headers: { host: sandbox.getHost(port) } }, (res) => {
        let body = ""
        res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => resolve(body))
      }).on("error", reject)
    })
    expect(viaHost).toBe("hi there")
    const closed = await fetch(`${emulator.portUrl({ sandboxId: sandbox.sandboxId, port: 1 })}/`)
    expect(closed.status).toBe(502)
  })

  it("silent deletion: isRunning false, commands SandboxNotFoundError, files TimeoutError, control plane 404", async () => {
    const sandbox = await Sandbox.create(opts())
    expect(await sandbox.isRunning()).toBe(true)
    await emulator.registry.deleteNow(sandbox.sandboxId)
    expect(await sandbox.isRunning()).toBe(false)
    await expect(sandbox.commands.run("true")).rejects.toMatchObject({ name: "SandboxNotFoundError" })
    await expect(sandbox.files.read("x")).rejects.toMatchObject({ name: "TimeoutError" })
    await expect(sandbox.setTimeout(1000)).rejects.toMatchObject({ name: "SandboxNotFoundError" })
  })

  it("the SDK's own 429 retry honours Retry-After; 503 is ServiceBusyError; resets and slow readiness surface", async () => {
    emulator.faults.rateLimitNext("create", { times: 1, retryAfter: 0 })
    await Sandbox.create(opts())
    expect(emulator.log.entries("create").map((e) => e.status)).toEqual([429, 201])
    emulator.faults.failNext("create", { status: 503 })
    await expect(Sandbox.create(opts())).rejects.toMatchObject({ name: "ServiceBusyError" })
    emulator.faults.resetNext("list")
    await expect(Sandbox.list(opts()).nextItems()).rejects.toThrow()
    emulator.registry.setReadinessDelay(60_000)
    const slow = await Sandbox.create(opts())
    expect(await slow.isRunning()).toBe(false)
    await expect(slow.commands.run("true")).rejects.toMatchObject({ name: "SandboxNotFoundError" })
  })

  it("quota: creates past the limit get 429 without Retry-After", async () => {
    emulator.registry.setQuota(1)
    await Sandbox.create(opts())
    await expect(Sandbox.create(opts())).rejects.toMatchObject({ name: "RateLimitError" })
    expect(emulator.log.count("create")).toBe(2)
  })
})
