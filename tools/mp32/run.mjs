// Runs tests/mp_runner.py on 32-bit MicroPython: the official WebAssembly port under node.
// Its small ints are 31-bit and its pointers 4 bytes, as on the ESP32 and RP2040, so integer
// overflow into the heap and tick wrap bugs show here that the 64-bit unix port hides. Its heap
// grows on demand: heap budgets are measured on the unix port (make soak), not here.
//
// usage: node tools/mp32/run.mjs tests/protocol tests/firmware ...   (from the repository root)
import fs from "node:fs";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..");
// what the tests import and read, and our stand-ins for what this port lacks (cryptolib, asyncio.run)
const TREES = ["protocol", "firmware", "boards", "tests", "tools/mp32/cryptolib.py", "tools/mp32/asyncio.py"];
const folders = process.argv.slice(2);
if (!folders.length) {
  console.error("usage: node tools/mp32/run.mjs FOLDER...");
  process.exit(2);
}

let output = "";
const mp = await loadMicroPython({
  heapsize: 8 * 1024 * 1024,
  stdout: (line) => { output += line + "\n"; console.log(line); },
  stderr: (line) => console.error(line),
});

function copy(relative) {
  const source = path.join(ROOT, relative);
  const target = "/repo/" + relative;
  if (fs.statSync(source).isDirectory()) {
    if (path.basename(source) === "__pycache__") return;
    mp.FS.mkdirTree(target);
    for (const name of fs.readdirSync(source)) copy(path.join(relative, name));
  } else if (/\.(py|json|bin)$/.test(source)) {
    mp.FS.mkdirTree(path.dirname(target));
    mp.FS.writeFile(target, fs.readFileSync(source));
  }
}
try { for (const tree of TREES) copy(tree); } catch (err) { console.error("copy:", String(err).slice(0, 300)); process.exit(2); }

mp.FS.chdir("/repo");
// The firmware sees its modules the way a board does: lib/ and drivers/ on the path. This port has
// no sys.argv: the runner's main() is called with the folders instead of running it as a script.
try {
  mp.runPython(`
import sys
sys.path[:0] = ["/repo/tools/mp32", "/repo", "/repo/firmware/lib", "/repo/firmware/drivers"]
import os, random
os.urandom = lambda n: bytes([random.getrandbits(8) for _ in range(n)])  # the boards have it, this port not
runner = {"__name__": "mp_runner"}
exec(open("tests/mp_runner.py").read(), runner)
runner["main"](${JSON.stringify(folders)})
`);
} catch (err) {
  console.error(String(err.message || err));  // the port's traceback, without the minified JS around it
}
const counts = /(\d+) passed, (\d+) failed\s*$/.exec(output);  // the runner's last line
process.exit(counts && counts[2] === "0" && counts[1] !== "0" ? 0 : 1);
