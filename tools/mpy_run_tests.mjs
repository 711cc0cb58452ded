// Runs tests/core/test_*.py under real MicroPython (the WebAssembly port from
// npm, installed into .mpy/ by tools/_bootstrap.sh) and prints one summary line:
//     micropython: N passed, M failed
// Exit status 0 only if nothing failed and at least one test passed.
//
// The core is copied into the in-memory filesystem at /lib/diagbridge (/lib is
// on MicroPython's default sys.path) and the tests to /tests/core; the Python
// side of the work is tools/mpy_runner.py.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkg = process.env.MPY_PKG ||
  path.join(root, ".mpy/node_modules/@micropython/micropython-webassembly-pyscript");
const { loadMicroPython } = await import(pathToFileURL(path.join(pkg, "micropython.mjs")).href);

const RESULT = /^@@mpy_runner passed=(\d+) failed=(\d+)$/;
let result = null;

// MicroPython prints every frame of a deep recursion; fold repeats as CPython does.
let last = null, repeats = 0;
function out(line) {
  if (line === last) { repeats++; return; }
  if (repeats) process.stdout.write(`  [previous line repeated ${repeats} more times]\n`);
  last = line; repeats = 0;
  if (line !== null) process.stdout.write(line + "\n");
}

const mp = await loadMicroPython({
  // Initial heap only: this build grows its heap on demand, so it cannot
  // emulate a board's fixed RAM.  Allocation-free claims use heap_lock().
  heapsize: 16 * 1024 * 1024,
  stdout: (line) => {
    const m = RESULT.exec(line);
    if (m) result = { passed: +m[1], failed: +m[2] };
    else out(line);
  },
  stderr: (line) => process.stderr.write(line + "\n"),
});

// Copy a host directory into the MicroPython FS.  cpy/ is the CPython-only
// adapter layer: a board never has it, so the tests must not see it either.
function copyTree(src, dst, keep, skipDirs = []) {
  if (!fs.existsSync(src)) return;
  mp.FS.mkdirTree(dst);
  for (const ent of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, ent.name), d = dst + "/" + ent.name;
    if (ent.isDirectory()) {
      if (ent.name !== "__pycache__" && !skipDirs.includes(ent.name)) copyTree(s, d, keep);
    } else if (keep(ent.name)) {
      mp.FS.writeFile(d, fs.readFileSync(s));
    }
  }
}
copyTree(path.join(root, "firmware/diagbridge"), "/lib/diagbridge", (n) => n.endsWith(".py"), ["cpy"]);
copyTree(path.join(root, "tests/core"), "/tests/core", () => true);
mp.FS.mkdirTree("/tests/core");

// Imported from a file (not exec'd as a string) so tracebacks name it.
mp.FS.mkdirTree("/tools");
mp.FS.writeFile("/tools/mpy_runner.py", fs.readFileSync(path.join(root, "tools/mpy_runner.py")));
try {
  mp.runPython("import sys\nsys.path.append('/tools')\nimport mpy_runner\nmpy_runner.main('/tests/core')");
} catch (e) {
  // Only reached if the runner itself breaks; test failures are caught inside.
  out(`runner error: ${e.type || e.name}: ${String(e.message).trimEnd()}`);
}

out(null);
const passed = result ? result.passed : 0;
const failed = result ? result.failed : 1;
console.log(`micropython: ${passed} passed, ${failed} failed` + (result ? "" : " (runner error)"));
process.exitCode = failed === 0 && passed > 0 ? 0 : 1;   // not exit(): let stdout drain
