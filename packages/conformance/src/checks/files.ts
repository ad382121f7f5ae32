/**
 * Files: bytes first (every byte value, large, empty), the tree operations, typed `FileNotFound`, and bulk
 * directory transfer.
 */
import { Effect, Stream } from "effect"
import type { FileData, FileEntry, SandboxError } from "@sandkit/core"
import { assertBytesEqual, assertDeepEqual, assertEqual, assertTrue, expectFailure } from "../Assert.ts"
import { capabilityCheck, type ConformanceCheck } from "../Check.ts"
import { bytes, ok, randomBytes, within } from "../internal/helpers.ts"

const binary = capabilityCheck("files: binary round-trip (256 byte values, 1 MiB random, empty)", "files", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const cases: ReadonlyArray<readonly [string, Uint8Array]> = [
      ["all-bytes.bin", Uint8Array.from({ length: 256 }, (_, i) => i)],
      ["random.bin", randomBytes(1024 * 1024)],
      ["empty.bin", new Uint8Array(0)],
      ["bin/nested/crlf.bin", bytes("a\r\nb\rc\n\u0000\u00ff")]
    ]
    for (const [path, data] of cases) {
      yield* within(60_000, `write ${path}`)(sandbox.files.write(path, data))
      const back = yield* within(60_000, `read ${path}`)(sandbox.files.read(path))
      yield* assertBytesEqual(back, data, `read(${path}) after write`)
      const stat = yield* sandbox.files.stat(path)
      yield* assertEqual(stat.size, data.length, `stat(${path}).size`)
      yield* assertEqual(stat.type, "file", `stat(${path}).type`)
      const wc = yield* ok(sandbox, `wc -c < '${path}'`)
      yield* assertEqual(Number(wc.stdout.trim()), data.length, `size of ${path} as seen by a command in the sandbox`)
    }
    const unicode = "héllo ✓ 𝄞\nsecond line\n"
    yield* sandbox.files.write("text.txt", unicode)
    yield* assertEqual(yield* sandbox.files.readText("text.txt"), unicode, "readText after a string write")
    const cat = yield* ok(sandbox, "cat text.txt")
    yield* assertEqual(cat.stdout, unicode, "a string written through files, read by cat")
    yield* ok(sandbox, "printf 'from exec' > from-exec.txt")
    yield* assertEqual(yield* sandbox.files.readText("from-exec.txt"), "from exec", "a file written by a command, read through files")
    yield* sandbox.files.write("all-bytes.bin", "short")
    yield* assertEqual(yield* sandbox.files.readText("all-bytes.bin"), "short", "write replaces (and truncates) an existing file")
  }))

const byName = (entries: ReadonlyArray<FileEntry>) => [...entries].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

const tree = capabilityCheck("files: list, mkdir, remove, stat, exists", "files", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const files = sandbox.files
    yield* files.mkdir("tree/a/b")
    yield* files.mkdir("tree/a/b")
    yield* assertEqual(yield* files.exists("tree/a/b"), true, "exists after mkdir (recursive)")
    yield* assertEqual((yield* files.stat("tree/a/b")).type, "directory", "stat(directory).type")
    yield* files.write("tree/a/b/file.txt", "12345")
    yield* files.write("tree/a/top.txt", "x")
    const stat = yield* files.stat("tree/a/b/file.txt")
    yield* assertEqual(stat.name, "file.txt", "stat().name is the base name")
    yield* assertEqual(stat.size, 5, "stat().size")
    yield* assertEqual(stat.type, "file", "stat().type")
    yield* assertTrue(stat.path.endsWith("tree/a/b/file.txt"), `stat().path ${JSON.stringify(stat.path)} ends with tree/a/b/file.txt`)
    const listed = byName(yield* files.list("tree/a"))
    yield* assertDeepEqual(listed.map((e) => e.name), ["b", "top.txt"], "list(tree/a) names")
    yield* assertDeepEqual(listed.map((e) => e.type), ["directory", "file"], "list(tree/a) types")
    yield* assertEqual(listed[1]?.size, 1, "list(tree/a) size of top.txt")
    for (const entry of listed) {
      yield* assertTrue(entry.path.endsWith(`tree/a/${entry.name}`), `list entry path ${JSON.stringify(entry.path)} ends with tree/a/${entry.name}`)
    }
    yield* assertDeepEqual((yield* files.list("tree/a/b")).map((e) => e.name), ["file.txt"], "list(tree/a/b) names")
    const viaExec = yield* ok(sandbox, "cat tree/a/b/file.txt")
    yield* assertEqual(viaExec.stdout, "12345", "a file written through files, read by a command")
    const absolute = yield* files.readText(`${sandbox.info.workdir}/tree/a/top.txt`)
    yield* assertEqual(absolute, "x", "an absolute path under info.workdir reaches the same file")
    yield* files.write("tree/new/deep/f.txt", "deep")
    yield* assertEqual(yield* files.readText("tree/new/deep/f.txt"), "deep", "write creates parent directories")
    yield* files.remove("tree/a/top.txt")
    yield* assertEqual(yield* files.exists("tree/a/top.txt"), false, "exists after remove(file)")
    yield* assertEqual(yield* files.exists("tree/a/b/file.txt"), true, "remove(file) leaves its siblings")
    yield* files.remove("tree")
    yield* assertEqual(yield* files.exists("tree"), false, "exists after remove(directory) (recursive)")
    yield* files.remove("tree")
    const gone = yield* ok(sandbox, "if [ -e tree ]; then echo yes; else echo no; fi")
    yield* assertEqual(gone.stdout, "no\n", "the removed directory is gone for commands too")
    yield* assertEqual(yield* files.exists("never-existed.txt"), false, "exists(missing)")
  }))

const notFound = capabilityCheck("files: missing paths fail with FileNotFound", "files", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const missing = ctx.unique("missing")
    const checks: ReadonlyArray<readonly [string, Effect.Effect<unknown, SandboxError>]> = [
      ["read", sandbox.files.read(missing)],
      ["readText", sandbox.files.readText(missing)],
      ["stat", sandbox.files.stat(missing)],
      ["list", sandbox.files.list(missing)]
    ]
    for (const [operation, effect] of checks) {
      const error = yield* expectFailure(effect, "FileNotFound", `${operation}(${missing})`)
      yield* assertTrue(error.path.includes(missing), `FileNotFound.path ${JSON.stringify(error.path)} names ${missing}`)
      yield* assertEqual(error.provider, ctx.provider.name, "FileNotFound.provider")
    }
    yield* expectFailure(sandbox.files.read(`${missing}/inside.txt`), "FileNotFound", "read under a missing directory")
  }))

const treeFiles: ReadonlyArray<FileData> = [
  { path: "a.txt", data: bytes("alpha") },
  { path: "nested/b.bin", data: randomBytes(100 * 1024) },
  { path: "nested/deeper/c.txt", data: bytes("gamma") },
  { path: "empty.dat", data: new Uint8Array(0) }
]

const sortByPath = (files: ReadonlyArray<FileData>) => [...files].sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)

const transfer = capabilityCheck("files: directory upload and download round-trip", "bulkTransfer", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const count = yield* within(60_000, "upload(iterable)")(sandbox.files.upload("up", treeFiles))
    yield* assertEqual(count, treeFiles.length, "upload returns the number of files")
    const cat = yield* ok(sandbox, "cat up/nested/deeper/c.txt")
    yield* assertEqual(cat.stdout, "gamma", "an uploaded nested file, read by a command")
    const expected = sortByPath(treeFiles)
    const check = (directory: string) =>
      Effect.gen(function*() {
        const downloaded = sortByPath(yield* within(60_000, `download(${directory})`)(Stream.runCollect(sandbox.files.download(directory))))
        yield* assertDeepEqual(downloaded.map((f) => f.path), expected.map((f) => f.path), `download(${directory}) relative paths`)
        for (const [i, file] of downloaded.entries()) {
          yield* assertBytesEqual(file.data, expected[i]!.data, `download(${directory}) ${file.path}`)
        }
      })
    yield* check("up")
    const streamed = yield* within(60_000, "upload(stream)")(sandbox.files.upload("up2", Stream.fromIterable(treeFiles)))
    yield* assertEqual(streamed, treeFiles.length, "upload(stream) returns the number of files")
    yield* check("up2")
    yield* check(`${sandbox.info.workdir}/up`)
  }))

export const filesChecks: ReadonlyArray<ConformanceCheck> = [binary, tree, notFound, transfer]
