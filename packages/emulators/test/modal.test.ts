/**
 * The Modal emulator driven by the real `modal` SDK (no Sandkit adapter in between): control plane, command router,
 * filesystem tool, ports, lifetimes. After every test nothing is left in the registry.
 */
import { readFile } from "node:fs/promises"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { ModalEmulator } from "../src/modal/index.ts"
import { clientFor, until } from "./modal-sdk.ts"

type Emulator = Awaited<ReturnType<typeof ModalEmulator.start>>

let emulator: Emulator
let client: import("modal").ModalClient

beforeAll(async () => {
  emulator = await ModalEmulator.start({ tokenId: "ak-emulatortests", tokenSecret: "as-emulatortests" })
  client = await clientFor(emulator)
})
afterAll(async () => {
  await emulator.close()
})
afterEach(async () => {
  const left = emulator.registry.ids()
  await emulator.reset()
  expect(left).toEqual([])
})

const appAndImage = async (appName = "tests") => {
  const app = await client.apps.fromName(appName, { createIfMissing: true })
  return { app, image: client.images.fromRegistry("alpine:3.21") }
}

describe("control plane", () => {
  it("the wire schema is written for modal 0.11.x: the installed SDK and the clients seen match", async () => {
    const sdk = JSON.parse(await readFile(join(dirname(createRequire(import.meta.url).resolve("modal")), "..", "package.json"), "utf8"))
    expect(sdk.version, "re-check src/modal/schema.ts against this SDK version").toMatch(/^0\.11\./)
    await client.apps.fromName("versions", { createIfMissing: true })
    expect([...emulator.world.clientVersions]).toEqual([`modal-js/${sdk.version}`])
  })

  it("auth: a wrong secret is UNAUTHENTICATED, answered once; apps need createIfMissing", async () => {
    const wrong = await clientFor(emulator, { tokenSecret: "as-wrongsecret" })
    await expect(wrong.apps.fromName("x", { createIfMissing: true })).rejects.toMatchObject({ code: 16 })
    expect(emulator.calls("AuthTokenGet").map((c) => c.grpcCode)).toEqual([16])
    await expect(client.apps.fromName("missing-app")).rejects.toMatchObject({ name: "NotFoundError" })
    const a = await client.apps.fromName("same", { createIfMissing: true })
    const b = await client.apps.fromName("same")
    expect(b.appId).toBe(a.appId)
  })

  it("images: ENV, WORKDIR and RUN replayed in the sandbox; the same commands give the same image; a failing RUN fails the build", async () => {
    const { app } = await appAndImage()
    const layered = client.images.fromRegistry("python:3.12-slim").dockerfileCommands(["ENV GREETING=\"hi there\"", "WORKDIR /srv/app", "RUN echo built > built.txt"])
    const sandbox = await client.sandboxes.create(app, layered)
    const p = await sandbox.exec(["sh", "-c", "echo \"$GREETING\"; pwd; cat built.txt"])
    const [out] = [await p.stdout.readText(), await p.wait()]
    const home = emulator.registry.get(sandbox.sandboxId)!.home
    expect(out).toBe(`hi there\n${home}/srv/app\nbuilt\n`)
    const again = await client.images.fromRegistry("python:3.12-slim").dockerfileCommands(["ENV GREETING=\"hi there\"", "WORKDIR /srv/app", "RUN echo built > built.txt"]).build(app)
    expect(again.imageId).toBe(layered.imageId)
    const failing = client.images.fromRegistry("alpine").dockerfileCommands(["RUN echo nope >&2; exit 7"])
    await expect(failing.build(app)).rejects.toThrow(/failed with the exception:[\s\S]*exit code 7[\s\S]*nope/)
    await sandbox.terminate()
  })

  it("sandboxes: V2 ids, wait/poll/terminate (137), list by tags, names, tags, tunnels", async () => {
    const { app, image } = await appAndImage()
    const a = await client.sandboxes.create(app, image, { tags: { team: "x", role: "a" }, name: "alpha", encryptedPorts: [3000] })
    const b = await client.sandboxes.create(app, image, { tags: { team: "x" } })
    expect(a.sandboxId).toMatch(/^sb-v2-[a-z0-9]{20}$/)
    expect(emulator.calls("SandboxCreateV2")).toHaveLength(2)
    const listed: Array<string> = []
    for await (const s of client.sandboxes.list({ appId: app.appId, tags: { team: "x" } })) listed.push(s.sandboxId)
    expect(listed.sort()).toEqual([a.sandboxId, b.sandboxId].sort())
    const onlyA: Array<string> = []
    for await (const s of client.sandboxes.list({ appId: app.appId, tags: { team: "x", role: "a" } })) onlyA.push(s.sandboxId)
    expect(onlyA).toEqual([a.sandboxId])
    expect((await client.sandboxes.fromName("tests", "alpha")).sandboxId).toBe(a.sandboxId)
    await expect(client.sandboxes.create(app, image, { name: "alpha" })).rejects.toMatchObject({ name: "AlreadyExistsError" })
    await b.setTags({ team: "y" })
    expect(await b.getTags()).toEqual({ team: "y" })
    await b.experimentalSetName("beta")
    expect((await client.sandboxes.fromName("tests", "beta")).sandboxId).toBe(b.sandboxId)
    expect(Object.values(await a.tunnels()).map((t) => t.url)).toEqual(["https://127.0.0.1:3000"])
    expect(await a.poll()).toBeNull()
    await a.terminate()
    expect(await a.wait()).toBe(137)
    expect(await a.poll()).toBe(137)
    await expect(client.sandboxes.fromName("tests", "alpha")).rejects.toMatchObject({ name: "NotFoundError" })
    expect((await client.sandboxes.fromName("tests", "alpha", { includeTerminated: true })).sandboxId).toBe(a.sandboxId)
    const reattached = await client.sandboxes.fromId(b.sandboxId)
    expect(await (await reattached.exec(["echo", "again"])).stdout.readText()).toBe("again\n")
    expect(emulator.calls("SandboxGetTaskIdV2").length).toBeGreaterThan(0)
    await b.terminate()
    await expect((await client.sandboxes.fromId("sb-v2-doesnotexist")).poll()).rejects.toMatchObject({ code: 5 })
  })

  it("lifetime: past timeoutSecs the sandbox ends with the timeout result (124); a command sandbox ends with its exit code", async () => {
    const { app, image } = await appAndImage()
    const short = await client.sandboxes.create(app, image, { timeoutMs: 1000 })
    expect(await short.wait()).toBe(124)
    expect(emulator.registry.removals.at(-1)).toEqual({ id: short.sandboxId, reason: "expired" })
    const command = await client.sandboxes.create(app, image, { command: ["sh", "-c", "exit 3"] })
    expect(await command.wait()).toBe(3)
  })

  it("a create retried with the same idempotency key answers the first sandbox (the answer to the first was lost)", async () => {
    const { app, image } = await appAndImage()
    emulator.faults.resetNext("SandboxCreateV2", { midStream: true })
    const sandbox = await client.sandboxes.create(app, image)
    expect(emulator.calls("SandboxCreateV2").map((c) => c.fault)).toEqual(["reset-mid-stream", undefined])
    expect(emulator.registry.ids()).toEqual([sandbox.sandboxId])
    await sandbox.terminate()
  })
})

describe("command router", () => {
  it("exec: stdout, stderr, exit code, workdir, env; streaming while it runs; stdin; exec timeout is signal 9", async () => {
    const { app, image } = await appAndImage()
    const sandbox = await client.sandboxes.create(app, image, { env: { FROM_SPEC: "spec" } })
    const home = emulator.registry.get(sandbox.sandboxId)!.home
    const p = await sandbox.exec(["sh", "-c", "echo $FROM_SPEC $FROM_EXEC; pwd; echo err >&2; exit 3"], { env: { FROM_EXEC: "exec" }, workdir: "/sub" })
      .catch((error: unknown) => error)
    expect(p).toMatchObject({ code: 3, message: expect.stringMatching(/does not exist/) })
    await sandbox.filesystem.makeDirectory(`${home}/sub`)
    const ok = await sandbox.exec(["sh", "-c", "echo $FROM_SPEC $FROM_EXEC; pwd; echo err >&2; exit 3"], { env: { FROM_EXEC: "exec" }, workdir: "/sub" })
    expect([await ok.stdout.readText(), await ok.stderr.readText(), await ok.wait()]).toEqual([`spec exec\n${home}/sub\n`, "err\n", 3])

    const streamed = await sandbox.exec(["sh", "-c", "echo first; sleep 0.3; echo second"])
    const reader = streamed.stdout.getReader()
    expect((await reader.read()).value).toBe("first\n")
    // The first line arrived while the command still runs.
    expect([...emulator.registry.get(sandbox.sandboxId)!.ext.execs.values()].some((r) => r.exit === undefined)).toBe(true)
    expect((await reader.read()).value).toBe("second\n")
    expect(await streamed.wait()).toBe(0)

    const cat = await sandbox.exec(["cat"], { mode: "binary" })
    const writer = cat.stdin.getWriter()
    await writer.write(new Uint8Array([0, 1, 2, 255]))
    await writer.close()
    expect(Array.from(await cat.stdout.readBytes())).toEqual([0, 1, 2, 255])
    expect(emulator.calls("TaskExecStdinWrite").length).toBe(2)

    const slow = await sandbox.exec(["sleep", "30"], { timeoutMs: 1000 })
    expect(await slow.wait()).toBe(137)
    await sandbox.terminate()
  })

  it("stdio is read by offset: a stream cut mid-way is resumed without losing or repeating bytes", async () => {
    const { app, image } = await appAndImage()
    const sandbox = await client.sandboxes.create(app, image)
    emulator.faults.resetNext("TaskExecStdioRead", { midStream: true, afterMs: 150 })
    const p = await sandbox.exec(["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; sleep 0.1; done"])
    expect(await p.stdout.readText()).toBe("line1\nline2\nline3\nline4\nline5\n")
    expect(emulator.calls("TaskExecStdioRead").filter((c) => c.fault === "reset-mid-stream")).toHaveLength(1)
    await sandbox.terminate()
  })

  it("the filesystem tool: write/read (bytes, 1 MiB), list, stat, mkdir, remove, typed errors", async () => {
    const { app, image } = await appAndImage()
    const sandbox = await client.sandboxes.create(app, image)
    const home = emulator.registry.get(sandbox.sandboxId)!.home
    const fs = sandbox.filesystem
    const big = Uint8Array.from({ length: 1024 * 1024 }, (_, i) => (i * 7) % 256)
    await fs.writeBytes(big, `${home}/d/big.bin`)
    expect(await fs.readBytes(`${home}/d/big.bin`)).toEqual(big)
    await fs.writeText("hi", `${home}/d/t.txt`)
    expect((await fs.listFiles(`${home}/d`)).map((e) => `${e.name}:${e.type}:${e.size}`)).toEqual([`big.bin:file:${big.length}`, "t.txt:file:2"])
    expect(await fs.stat(`${home}/d`)).toMatchObject({ name: "d", type: "directory" })
    await fs.makeDirectory(`${home}/e/f`)
    await expect(fs.makeDirectory(`${home}/e/f`, { createParents: false })).rejects.toMatchObject({ name: "SandboxFilesystemPathAlreadyExistsError" })
    await expect(fs.remove(`${home}/d`)).rejects.toMatchObject({ name: "SandboxFilesystemDirectoryNotEmptyError" })
    await fs.remove(`${home}/d`, { recursive: true })
    await expect(fs.readText(`${home}/d/t.txt`)).rejects.toMatchObject({ name: "SandboxFilesystemNotFoundError" })
    await expect(fs.readText(`${home}/e`)).rejects.toMatchObject({ name: "SandboxFilesystemIsADirectoryError" })
    await expect(fs.listFiles(`${home}/nope`)).rejects.toMatchObject({ name: "SandboxFilesystemNotFoundError" })
    const cat = await sandbox.exec(["sh", "-c", "ls e"])
    expect(await cat.stdout.readText()).toBe("f\n")
    await sandbox.terminate()
  })

  it("a sandbox that ends mid-command: wait and stdio answer NOT_FOUND at once (no hang)", async () => {
    const { app, image } = await appAndImage()
    const sandbox = await client.sandboxes.create(app, image)
    const p = await sandbox.exec(["sleep", "30"])
    const waiting = p.wait().catch((error: unknown) => error)
    await until("the exec runs", () => emulator.calls("TaskExecWait").length > 0)
    emulator.registry.setTimeout(sandbox.sandboxId, 50)
    expect(await waiting).toMatchObject({ code: 5 })
    expect(await sandbox.wait()).toBe(124)
    await expect(sandbox.exec(["true"])).rejects.toMatchObject({ code: 5 })
  })

  it("readiness delay: router calls wait until the sandbox is up", async () => {
    const { app, image } = await appAndImage()
    emulator.registry.setReadinessDelay(200)
    const sandbox = await client.sandboxes.create(app, image)
    const before = emulator.registry.get(sandbox.sandboxId)!
    expect(emulator.registry.isReady(before)).toBe(false)
    expect(await (await sandbox.exec(["echo", "up"])).stdout.readText()).toBe("up\n")
    expect(emulator.registry.isReady(before)).toBe(true)
    await sandbox.terminate()
  })
})

describe("ports, unimplemented methods, faults", () => {
  it("connect tokens: the URL reaches a server in the sandbox with the token, 401 without", async () => {
    const { app, image } = await appAndImage()
    const sandbox = await client.sandboxes.create(app, image)
    const port = 20000 + Math.floor(Math.random() * 20000)
    const home = emulator.registry.get(sandbox.sandboxId)!.home
    await sandbox.filesystem.writeText("served", `${home}/www/hi.txt`)
    await sandbox.exec(["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1"], { workdir: `${home}/www` })
    const { token, url } = await sandbox.createConnectToken({ port })
    await until("the server answers", () => fetch(`${url}/hi.txt`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.ok, () => false))
    expect(await (await fetch(`${url}/hi.txt`, { headers: { authorization: `Bearer ${token}` } })).text()).toBe("served")
    expect(await (await fetch(`${url}/hi.txt?_modal_connect_token=${token}`)).text()).toBe("served")
    expect((await fetch(`${url}/hi.txt`)).status).toBe(401)
    await sandbox.terminate()
  })

  it("an unimplemented method answers UNIMPLEMENTED at once and is logged", async () => {
    const { app, image } = await appAndImage()
    const sandbox = await client.sandboxes.create(app, image)
    await expect(sandbox.snapshotFilesystem()).rejects.toMatchObject({ code: 12 })
    expect(emulator.unimplemented).toEqual(["/modal.task_command_router.TaskCommandRouter/TaskSnapshotFilesystem"])
    expect(emulator.calls("TaskSnapshotFilesystem").map((c) => c.grpcCode)).toEqual([12])
    await sandbox.terminate()
  })

  it("the SDK's own retries: an UNAVAILABLE burst is retried 3 times; throttling waits the server's retry-after", async () => {
    const knobs = ModalEmulator.grpcFaults(emulator.faults)
    knobs.unavailableNext("AppGetOrCreate", 2)
    await client.apps.fromName("burst", { createIfMissing: true })
    expect(emulator.calls("AppGetOrCreate").map((c) => c.grpcCode)).toEqual([14, 14, 0])
    knobs.unavailableNext("AppGetOrCreate", 4)
    await expect(client.apps.fromName("burst", { createIfMissing: true })).rejects.toMatchObject({ code: 14 })
    expect(emulator.calls("AppGetOrCreate")).toHaveLength(3 + 4)
    knobs.throttleNext("AppGetOrCreate", 0.05, 2)
    await client.apps.fromName("burst", { createIfMissing: true })
    expect(emulator.calls("AppGetOrCreate").slice(-3).map((c) => c.grpcCode)).toEqual([8, 8, 0])
    knobs.resourceExhaustedNext("AppGetOrCreate")
    await expect(client.apps.fromName("burst", { createIfMissing: true })).rejects.toMatchObject({ code: 8 })
  })

  it("quota: past the concurrency limit a create is RESOURCE_EXHAUSTED, not retried", async () => {
    const { app, image } = await appAndImage()
    emulator.registry.setQuota(1)
    const first = await client.sandboxes.create(app, image)
    await expect(client.sandboxes.create(app, image)).rejects.toMatchObject({ code: 8, details: expect.stringMatching(/maximum number of concurrent sandboxes/) })
    expect(emulator.calls("SandboxCreateV2").map((c) => c.grpcCode)).toEqual([0, 8])
    await first.terminate()
  })
})
