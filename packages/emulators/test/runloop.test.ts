/**
 * Every route of the Runloop emulator, driven by the real `@runloop/api-client` (no Sandkit adapter in between):
 * what an SDK user sees offline, over the SDK's default transport (cleartext HTTP/2) and over HTTP/1.1.
 */
import { Runloop, toFile } from "@runloop/api-client"
import { get } from "node:http"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { RunloopEmulator } from "../src/runloop/index.ts"

type Emulator = Awaited<ReturnType<typeof RunloopEmulator.start>>

let emulator: Emulator
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const until = async (what: string, predicate: () => boolean | Promise<boolean>) => {
  for (let i = 0; i < 1000; i++) {
    if (await predicate()) return
    await settle(10)
  }
  throw new Error(`timed out waiting until ${what}`)
}

beforeAll(async () => {
  emulator = await RunloopEmulator.start({
    apiKey: "rl_emulator_tests",
    pageSize: 2,
    longPollMs: 300,
    blueprints: [{ name: "openhands", setup: ["mkdir -p .openhands && echo ready > .openhands/state"] }]
  })
})
afterAll(async () => {
  await emulator.close()
})
afterEach(async () => {
  // Every test leaves nothing running.
  const live = emulator.registry.ids()
  await emulator.reset()
  expect(live).toEqual([])
})

const clientOf = (http2: boolean, extra: Partial<ConstructorParameters<typeof Runloop>[0]> = {}) =>
  new Runloop({ ...emulator.sdkOptions, http2, maxRetries: 0, ...extra })

const failure = async (promise: Promise<unknown>) => {
  try {
    await promise
  } catch (error) {
    return error as { readonly status?: number; readonly message: string; readonly constructor: { readonly name: string } }
  }
  throw new Error("expected a failure")
}

for (const http2 of [true, false]) {
  describe(`over ${http2 ? "HTTP/2 (h2c)" : "HTTP/1.1"}`, () => {
    it("create → awaitRunning → retrieve → update → list by status with pages → shutdown (a tombstone remains)", async () => {
      const before = emulator.connections()
      const client = clientOf(http2)
      const a = await client.devboxes.create({
        name: "oh-session",
        metadata: { "container-name": "openhands-runtime-oh-session" },
        launch_parameters: { resource_size_request: "LARGE", keep_alive_time_seconds: 600 }
      })
      expect(a.status).toBe("provisioning")
      expect(a.launch_parameters.resource_size_request).toBe("LARGE")
      expect((await client.devboxes.awaitRunning(a.id)).status).toBe("running")
      const b = await client.devboxes.createAndAwaitRunning({ name: "second" })
      const c = await client.devboxes.createAndAwaitRunning({})
      expect(b.status).toBe("running")
      const got = await client.devboxes.retrieve(a.id)
      expect(got.state_transitions.map((t) => t.status)).toEqual(["provisioning", "initializing", "running"])
      expect(got.metadata).toEqual({ "container-name": "openhands-runtime-oh-session" })
      expect((await client.devboxes.update(a.id, { metadata: { k: "v" } })).metadata).toEqual({ k: "v" })

      const ids: Array<string> = []
      for await (const devbox of client.devboxes.list({ status: "running" })) ids.push(devbox.id)
      expect(ids.sort()).toEqual([a.id, b.id, c.id].sort())
      expect(emulator.log.count("list")).toBe(2) // pages of 2

      const down = await client.devboxes.shutdown(a.id)
      expect(down.status).toBe("shutdown")
      expect(down.shutdown_reason).toBe("api_shutdown")
      expect((await client.devboxes.retrieve(a.id)).status).toBe("shutdown")
      expect((await client.devboxes.list({ status: "shutdown" })).devboxes.map((d) => d.id)).toEqual([a.id])
      await client.devboxes.shutdown(b.id)
      await client.devboxes.shutdown(c.id)
      const after = emulator.connections()
      if (http2) expect(after.h2c).toBeGreaterThan(before.h2c)
      else expect(after.http1).toBeGreaterThan(before.http1)
    })

    it("executions: sync, async + long poll, execute with command_id (idempotent), last_n, kill, stdin, SSE with offsets", async () => {
      const client = clientOf(http2)
      const { id } = await client.devboxes.createAndAwaitRunning({ environment_variables: { GREETING: "hi" } })
      const sync = await client.devboxes.executeSync(id, { command: "echo $GREETING; echo oops >&2; exit 3" })
      expect(sync).toMatchObject({ exit_status: 3, stdout: "hi\n", stderr: "oops\n" })

      const run = await client.devboxes.executeAndAwaitCompletion(id, { command: "seq 1 150" })
      expect(run.status).toBe("completed")
      expect(run.stdout?.split("\n").length).toBe(101) // last 100 lines, then the final newline
      expect(run.stdout_truncated).toBe(true)
      const all = await client.devboxes.executions.retrieve(id, run.execution_id, { last_n: "1000" })
      expect(all.stdout?.startsWith("1\n2\n")).toBe(true)

      const commandId = "0190a0c8-0000-7000-8000-000000000001"
      const first = await client.devboxes.execute(id, { command: "echo once >> once.txt; sleep 0.1", command_id: commandId, optimistic_timeout: 0 })
      expect(first.status).toBe("running")
      const again = await client.devboxes.execute(id, { command: "echo once >> once.txt; sleep 0.1", command_id: commandId, optimistic_timeout: 5 })
      expect(again).toMatchObject({ execution_id: commandId, status: "completed", exit_status: 0 })
      expect((await client.devboxes.executeSync(id, { command: "cat once.txt" })).stdout).toBe("once\n")

      const slow = await client.devboxes.executions.executeAsync(id, { command: "sleep 1; echo done" })
      const timedOut = await failure(client.devboxes.waitForCommand(id, slow.execution_id, { statuses: ["completed"] }))
      expect(timedOut.status).toBe(408)
      const done = await client.devboxes.executions.awaitCompleted(id, slow.execution_id)
      expect(done).toMatchObject({ status: "completed", exit_status: 0, stdout: "done\n" })

      const sleeper = await client.devboxes.executions.executeAsync(id, { command: "sleep 30" })
      const killed = await client.devboxes.executions.kill(id, sleeper.execution_id, { kill_process_group: true })
      expect(killed.status).toBe("completed")
      expect(killed.exit_status).not.toBe(0)

      const cat = await client.devboxes.executions.executeAsync(id, { command: "read line; echo got:$line; cat", attach_stdin: true })
      await client.devboxes.executions.sendStdIn(id, cat.execution_id, { text: "hello\nrest" })
      // A body whose only key is `signal` is taken for request options by the SDK: send `text: null` with it.
      await client.devboxes.executions.sendStdIn(id, cat.execution_id, { text: null, signal: "EOF" })
      expect((await client.devboxes.executions.awaitCompleted(id, cat.execution_id)).stdout).toBe("got:hello\nrest")
      const noStdin = await client.devboxes.executions.executeAsync(id, { command: "cat" })
      expect((await client.devboxes.executions.awaitCompleted(id, noStdin.execution_id)).stdout).toBe("")

      const streamed = await client.devboxes.executions.executeAsync(id, { command: "printf 'a\\n'; sleep 0.2; printf 'é\\n'; sleep 0.2; printf 'c\\n' >&2" })
      const chunks: Array<{ output: string; offset?: number }> = []
      for await (const chunk of await client.devboxes.executions.streamStdoutUpdates(id, streamed.execution_id)) chunks.push(chunk)
      expect(chunks).toEqual([{ output: "a\n", offset: 2 }, { output: "é\n", offset: 5 }])
      const resumed: Array<string> = []
      for await (const chunk of await client.devboxes.executions.streamStdoutUpdates(id, streamed.execution_id, { offset: "2" })) {
        resumed.push(chunk.output)
      }
      expect(resumed).toEqual(["é\n"])
      const errs: Array<string> = []
      for await (const chunk of await client.devboxes.executions.streamStderrUpdates(id, streamed.execution_id)) errs.push(chunk.output)
      expect(errs).toEqual(["c\n"])
      await client.devboxes.shutdown(id)
    })

    it("files: text contents, multipart upload, binary download, 404 for a missing file, /home/user alias", async () => {
      const client = clientOf(http2)
      const { id } = await client.devboxes.createAndAwaitRunning({})
      await client.devboxes.writeFileContents(id, { file_path: "notes/a.txt", contents: "héllo ✓" })
      expect(await client.devboxes.readFileContents(id, { file_path: "/home/user/notes/a.txt" })).toBe("héllo ✓")
      // JSON in a file stays text: the answer is text/plain.
      await client.devboxes.writeFileContents(id, { file_path: "x.json", contents: "{\"a\":1}" })
      expect(await client.devboxes.readFileContents(id, { file_path: "x.json" })).toBe("{\"a\":1}")
      const bytes = Uint8Array.from({ length: 256 }, (_, i) => i)
      await client.devboxes.uploadFile(id, { path: "deep/dir/all.bin", file: await toFile(bytes, "all.bin") })
      const downloaded = await client.devboxes.downloadFile(id, { path: "deep/dir/all.bin" })
      expect(new Uint8Array(await downloaded.arrayBuffer())).toEqual(bytes)
      const missing = await failure(client.devboxes.readFileContents(id, { file_path: "nope.txt" }))
      expect(missing.status).toBe(404)
      expect((await failure(client.devboxes.downloadFile(id, { path: "deep" }))).status).toBe(400)
      await client.devboxes.shutdown(id)
    })
  })
}

describe("lifecycle", () => {
  it("wait_for_status holds, answers 408 past the window, and returns as soon as the status is reached", async () => {
    const client = clientOf(true)
    emulator.timing = { ...emulator.timing, provisioningMs: 1000 }
    const { id } = await client.devboxes.create({})
    const early = await failure(client.devboxes.awaitRunning(id, { longPoll: { timeoutMs: 200 } }))
    expect(early.constructor.name).toBe("PollingTimeoutError")
    expect((await client.devboxes.awaitRunning(id)).status).toBe("running")
    expect(emulator.log.count("waitForStatus", (e) => e.status === 408)).toBeGreaterThanOrEqual(1)
    await client.devboxes.shutdown(id)
  })

  it("suspend / resume (processes end, files stay), keep-alive, idle shutdown, entrypoint exit", async () => {
    const client = clientOf(true)
    const { id } = await client.devboxes.createAndAwaitRunning({})
    await client.devboxes.writeFileContents(id, { file_path: "kept.txt", contents: "kept" })
    const sleeper = await client.devboxes.executions.executeAsync(id, { command: "sleep 30" })
    await client.devboxes.suspend(id)
    expect((await client.devboxes.awaitSuspended(id)).status).toBe("suspended")
    expect((await client.devboxes.executions.retrieve(id, sleeper.execution_id)).status).toBe("completed")
    expect((await failure(client.devboxes.executeSync(id, { command: "true" }))).status).toBe(400)
    await client.devboxes.resume(id)
    expect((await client.devboxes.awaitRunning(id)).status).toBe("running")
    expect(await client.devboxes.readFileContents(id, { file_path: "kept.txt" })).toBe("kept")
    expect(await client.devboxes.keepAlive(id)).toEqual({})

    const idle = await client.devboxes.createAndAwaitRunning({
      launch_parameters: { after_idle: { idle_time_seconds: 0.2, on_idle: "shutdown" } }
    })
    await until("the idle devbox is shut down", async () => (await client.devboxes.retrieve(idle.id)).status === "shutdown")
    expect((await client.devboxes.retrieve(idle.id)).shutdown_reason).toBe("idle")

    const bound = await client.devboxes.createAndAwaitRunning({ entrypoint: "sleep 0.2" })
    await until("the entrypoint's end shuts the devbox down", async () => (await client.devboxes.retrieve(bound.id)).status === "shutdown")
    expect((await client.devboxes.retrieve(bound.id)).shutdown_reason).toBe("entrypoint_exit")
    await client.devboxes.shutdown(id)
  })

  it("blueprints run their setup; launch commands run; a failing one fails the devbox; bad sizes are refused", async () => {
    const client = clientOf(false)
    const fromBlueprint = await client.devboxes.createAndAwaitRunning({ blueprint_name: "openhands", launch_parameters: { launch_commands: ["echo lc > lc.txt"] } })
    expect(fromBlueprint.blueprint_id).toMatch(/^bpt_/)
    expect(await client.devboxes.readFileContents(fromBlueprint.id, { file_path: ".openhands/state" })).toBe("ready\n")
    expect(await client.devboxes.readFileContents(fromBlueprint.id, { file_path: "lc.txt" })).toBe("lc\n")
    const broken = await client.devboxes.create({ launch_parameters: { launch_commands: ["exit 1"] } })
    const error = await failure(client.devboxes.awaitRunning(broken.id))
    expect(error.message).toContain("non-running state failure")
    expect((await client.devboxes.retrieve(broken.id)).failure_reason).toBe("execution_failed")
    expect((await failure(client.devboxes.create({ blueprint_name: "nope" }))).status).toBe(400)
    expect((await failure(client.devboxes.create({ launch_parameters: { resource_size_request: "CUSTOM_SIZE", custom_cpu_cores: 3, custom_gb_memory: 4 } }))).status).toBe(400)
    const custom = await client.devboxes.createAndAwaitRunning({ launch_parameters: { resource_size_request: "CUSTOM_SIZE", custom_cpu_cores: 2, custom_gb_memory: 8, custom_disk_size: 16 } })
    await client.devboxes.shutdown(custom.id)
    await client.devboxes.shutdown(fromBlueprint.id)
  })

  it("tunnels: one per devbox, reaches a port through the plain URL or the tunnel host, authenticated ones need the token", async () => {
    const client = clientOf(true)
    const { id } = await client.devboxes.createAndAwaitRunning({})
    const tunnel = await client.devboxes.enableTunnel(id, { auth_mode: "authenticated" })
    expect(tunnel.auth_token).toBeTruthy()
    expect((await failure(client.devboxes.enableTunnel(id))).status).toBe(400)
    expect((await client.devboxes.retrieve(id)).tunnel?.tunnel_key).toBe(tunnel.tunnel_key)
    const port = 20000 + Math.floor(Math.random() * 20000)
    const server = await client.devboxes.executions.executeAsync(id, {
      command: `mkdir -p www && echo tunnelled > www/t.txt && cd www && exec python3 -m http.server ${port} --bind 127.0.0.1`
    })
    const url = `${emulator.tunnelUrl({ tunnelKey: tunnel.tunnel_key, port })}/t.txt`
    expect((await fetch(url)).status).toBe(401)
    const headers = { "X-Runloop-Tunnel-Authorization": `Bearer ${tunnel.auth_token}` }
    await until("the server in the devbox answers", async () => (await fetch(url, { headers }).catch(() => undefined))?.status === 200)
    expect(await (await fetch(url, { headers })).text()).toBe("tunnelled\n")
    // The tunnel's own host name (fetch would not let us set Host).
    const byHost = await new Promise<string>((resolve, reject) => {
      const request = get(`${emulator.url}/t.txt`, { headers: { ...headers, host: `${port}-${tunnel.tunnel_key}.tunnel.runloop.ai` } }, (res) => {
        let body = ""
        res.on("data", (chunk: Uint8Array) => (body += Buffer.from(chunk).toString()))
        res.on("end", () => resolve(body))
      })
      request.on("error", reject)
    })
    expect(byHost).toBe("tunnelled\n")
    await client.devboxes.executions.kill(id, server.execution_id)
    await client.devboxes.removeTunnel(id)
    expect((await client.devboxes.retrieve(id)).tunnel).toBeNull()
    await client.devboxes.shutdown(id)
  })

  it("disk snapshots: sync and async, status, list by devbox and metadata, create from one, delete", async () => {
    const client = clientOf(true)
    const { id } = await client.devboxes.createAndAwaitRunning({})
    await client.devboxes.writeFileContents(id, { file_path: "data/before.txt", contents: "before" })
    const snap = await client.devboxes.snapshotDisk(id, { name: "s1", metadata: { team: "x" } })
    expect(snap.source_devbox_id).toBe(id)
    const asyncSnap = await client.devboxes.snapshotDiskAsync(id, {})
    await until("the async snapshot completes", async () => (await client.devboxes.diskSnapshots.queryStatus(asyncSnap.id)).status === "complete")
    await client.devboxes.writeFileContents(id, { file_path: "data/after.txt", contents: "after" })
    // The SDK types the filter as the literal key `metadata[key]`; the wire wants the real key in the brackets.
    const byMeta = await client.devboxes.listDiskSnapshots({ "metadata[team]": "x" } as unknown as { "metadata[key]": string })
    expect(byMeta.snapshots.map((s) => s.id)).toEqual([snap.id])
    const byDevbox: Array<string> = []
    for await (const s of client.devboxes.listDiskSnapshots({ devbox_id: id })) byDevbox.push(s.id)
    expect(byDevbox.sort()).toEqual([snap.id, asyncSnap.id].sort())
    const copy = await client.devboxes.createAndAwaitRunning({ snapshot_id: snap.id })
    expect(copy.snapshot_id).toBe(snap.id)
    expect(await client.devboxes.readFileContents(copy.id, { file_path: "data/before.txt" })).toBe("before")
    expect((await failure(client.devboxes.readFileContents(copy.id, { file_path: "data/after.txt" }))).status).toBe(404)
    await client.devboxes.diskSnapshots.delete(snap.id)
    expect((await failure(client.devboxes.diskSnapshots.delete(snap.id))).status).toBe(404)
    expect((await failure(client.devboxes.create({ snapshot_id: snap.id }))).message).toContain("not found")
    await client.devboxes.shutdown(copy.id)
    await client.devboxes.shutdown(id)
  })
})

describe("faults, retries and idempotency", () => {
  it("429 × 2 with Retry-After, then success: the SDK's own retries make 3 requests and one devbox", async () => {
    const client = clientOf(true, { maxRetries: 2 })
    emulator.faults.rateLimitNext("create", { times: 2, retryAfter: "0.05" })
    const devbox = await client.devboxes.create({})
    expect(emulator.log.count("create")).toBe(3)
    expect(emulator.log.entries("create").map((e) => e.status)).toEqual([429, 429, 200])
    expect(emulator.registry.ids()).toEqual([devbox.id])
    await client.devboxes.shutdown(devbox.id)
  })

  it("a retry with the same x-request-id gets the first answer, never a second devbox or command", async () => {
    const post = (path: string, body: unknown, requestId: string) =>
      fetch(`${emulator.url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${emulator.sdkOptions.bearerToken}`, "content-type": "application/json", "x-request-id": requestId },
        body: JSON.stringify(body)
      }).then((r) => r.json() as Promise<{ readonly id: string; readonly execution_id: string }>)
    const [a, b] = await Promise.all([post("/v1/devboxes", { name: "once" }, "req-1"), post("/v1/devboxes", { name: "once" }, "req-1")])
    expect(b.id).toBe(a.id)
    expect(emulator.registry.size).toBe(1)
    const c = await post("/v1/devboxes", { name: "once" }, "req-2")
    expect(c.id).not.toBe(a.id)
    await until("the devbox runs", () => emulator.registry.get(a.id)?.ext.status === "running")
    const x = await post(`/v1/devboxes/${a.id}/execute_async`, { command: "echo x >> x.txt" }, "req-3")
    const y = await post(`/v1/devboxes/${a.id}/execute_async`, { command: "echo x >> x.txt" }, "req-3")
    expect(y.execution_id).toBe(x.execution_id)
    expect(emulator.replays()).toBe(2)
    // Cut halfway through the answer, the retry is answered from the cache. (Over HTTP/2: the SDK's HTTP/1.1
    // transport, node-fetch, waits forever for the rest of a body whose connection was cut.)
    const client = clientOf(true, { maxRetries: 0 })
    emulator.faults.resetNext("shutdown", { midStream: true })
    await failure(client.devboxes.shutdown(c.id, { idempotencyKey: "req-4" }))
    expect((await client.devboxes.shutdown(c.id, { idempotencyKey: "req-4" })).status).toBe("shutdown")
    await client.devboxes.shutdown(a.id)
  })

  it("5xx and resets by route; a cut output stream is resumed by the SDK from its offset", async () => {
    const client = clientOf(true)
    emulator.faults.failNext("retrieve", { status: 503, message: "maintenance" })
    const { id } = await client.devboxes.createAndAwaitRunning({})
    const unavailable = await failure(client.devboxes.retrieve(id))
    expect(unavailable.status).toBe(503)
    emulator.faults.resetNext("retrieve")
    expect((await failure(client.devboxes.retrieve(id))).constructor.name).toBe("APIConnectionError")
    expect((await client.devboxes.retrieve(id)).status).toBe("running")
    await client.devboxes.shutdown(id)

    // A second emulator whose streams are cut every 150 ms: the SDK reconnects with `offset` and misses nothing.
    const cutting = await RunloopEmulator.start({ streamCutMs: 150 })
    try {
      const c2 = new Runloop({ ...cutting.sdkOptions, maxRetries: 0 })
      const box = await c2.devboxes.createAndAwaitRunning({})
      const run = await c2.devboxes.executions.executeAsync(box.id, { command: "for i in 1 2 3 4 5; do echo $i; sleep 0.1; done" })
      const out: Array<string> = []
      for await (const chunk of await c2.devboxes.executions.streamStdoutUpdates(box.id, run.execution_id)) out.push(chunk.output)
      expect(out.join("")).toBe("1\n2\n3\n4\n5\n")
      const requests = cutting.log.entries("executions.streamStdout").map((e) => new URL(e.path, cutting.url).searchParams.get("offset"))
      expect(requests.length).toBeGreaterThan(1)
      expect(requests[0]).toBe("0")
      expect(new Set(requests).size).toBe(requests.length)
      await c2.devboxes.shutdown(box.id)
    } finally {
      await cutting.close()
    }
  })

  it("auth: no token or a wrong one is 401, and the answer never echoes it", async () => {
    const wrong = new Runloop({ bearerToken: "rl_wrong_secret_value", baseURL: emulator.url, maxRetries: 0 })
    const error = await failure(wrong.devboxes.list())
    expect(error.status).toBe(401)
    expect(error.message).not.toContain("rl_wrong_secret_value")
    const plain = await fetch(`${emulator.url}/v1/devboxes`)
    expect(plain.status).toBe(401)
  })

  it("quota: past the concurrency limit creates are refused; silent deletion makes a devbox 404", async () => {
    const client = clientOf(true)
    emulator.registry.setQuota(1, { status: 403, message: "Maximum number of concurrent devboxes (1) reached" })
    const { id } = await client.devboxes.createAndAwaitRunning({})
    expect((await failure(client.devboxes.create({}))).status).toBe(403)
    emulator.registry.clearKnobs()
    await emulator.registry.deleteNow(id)
    expect((await failure(client.devboxes.retrieve(id))).status).toBe(404)
  })
})
