// Drives execd's file API through the official JS SDK's FilesystemAdapter (stack.files)
// and prints what the SDK saw as one JSON object for t/integ/sdk_js.py to check.
// FILES_DIR is an empty scratch directory.
import { ConnectionConfig, createDefaultAdapterFactory } from "@alibaba-group/opensandbox";

const base = process.env.EXECD_URL;
const dir = process.env.FILES_DIR;
const files = createDefaultAdapterFactory().createExecdStack({
  connectionConfig: new ConnectionConfig({ domain: base }),
  execdBaseUrl: base,
}).files;
const out = {};

const shape = (fi) => ({
  path: fi.path,
  type: fi.type,
  size: fi.size,
  mode: fi.mode,
  owner: fi.owner,
  group: fi.group,
  modifiedIsDate: fi.modifiedAt instanceof Date && !Number.isNaN(fi.modifiedAt.getTime()),
  createdIsDate: fi.createdAt instanceof Date && !Number.isNaN(fi.createdAt.getTime()),
});

async function errorOf(fn) {
  try {
    await fn();
    return null;
  } catch (e) {
    return { status: e?.statusCode ?? null, message: String(e?.message ?? e) };
  }
}

await files.createDirectories([{ path: `${dir}/sub/deep`, mode: 750 }]);
await files.writeFiles([
  { path: `${dir}/hello.txt`, data: "hello world, hello sdk" },
  { path: `${dir}/sub/bytes.bin`, data: new Uint8Array([0, 1, 2, 255]), mode: 600 },
  { path: `${dir}/sub/测试 file.txt`, data: "non-ascii" },
]);

// A streamed upload: the SDK builds the multipart body itself and sends it chunked.
async function* chunks() {
  for (let i = 0; i < 64; i++) yield new Uint8Array(64 * 1024).fill(i);
}
await files.writeFiles([{ path: `${dir}/streamed.bin`, data: chunks() }]);

out.read = await files.readFile(`${dir}/hello.txt`);
out.readRange = await files.readFile(`${dir}/hello.txt`, { range: "bytes=6-10" });
out.readNonAscii = await files.readFile(`${dir}/sub/测试 file.txt`);
out.bytes = Array.from(await files.readBytes(`${dir}/sub/bytes.bin`));
let streamed = 0;
for await (const c of files.readBytesStream(`${dir}/streamed.bin`)) streamed += c.length;
out.streamedSize = streamed;

const info = await files.getFileInfo([`${dir}/hello.txt`, `${dir}/sub`, `${dir}/sub/deep`]);
out.info = Object.fromEntries(Object.entries(info).map(([k, v]) => [k, shape(v)]));

out.search = (await files.search({ path: dir, pattern: "*.txt" })).map((f) => f.path);
out.searchAll = (await files.search({ path: dir })).map((f) => f.path);
out.list = (await files.listDirectory({ path: dir, depth: 2 })).map((f) => [f.path, f.type]);

await files.replaceContents([{ path: `${dir}/hello.txt`, oldContent: "hello", newContent: "bye" }]);
out.afterReplace = await files.readFile(`${dir}/hello.txt`);
out.replaceDetailed = await files.replaceContentsDetailed([
  { path: `${dir}/hello.txt`, oldContent: "bye", newContent: "ciao" },
]);

await files.setPermissions([{ path: `${dir}/hello.txt`, mode: 640, owner: "nobody" }]);
out.afterChmod = shape((await files.getFileInfo([`${dir}/hello.txt`]))[`${dir}/hello.txt`]);

await files.moveFiles([{ src: `${dir}/hello.txt`, dest: `${dir}/moved/hello.txt` }]);
await files.deleteFiles([`${dir}/sub/bytes.bin`]);
await files.deleteDirectories([`${dir}/sub`]);
out.afterCleanup = (await files.listDirectory({ path: dir, depth: 3 })).map((f) => f.path);

out.missingInfo = await errorOf(() => files.getFileInfo([`${dir}/missing`]));
out.missingRead = await errorOf(() => files.readFile(`${dir}/missing`));
out.dirRead = await errorOf(() => files.readFile(dir));

console.log(JSON.stringify(out));
process.exit(0);
