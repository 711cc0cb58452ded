// The MicroPython figure of tools/bench: loads the npm MicroPython (in .mpy/,
// installed by tools/_bootstrap.sh), copies the core into its filesystem at
// /lib/diagbridge (without cpy/, as on a board) and runs
// tools/bench_mpy_cantp.py, which prints one line of figures.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkg = process.env.MPY_PKG ||
  path.join(root, ".mpy/node_modules/@micropython/micropython-webassembly-pyscript");
const { loadMicroPython } = await import(pathToFileURL(path.join(pkg, "micropython.mjs")).href);

const mp = await loadMicroPython({
  heapsize: 16 * 1024 * 1024,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

function copyTree(src, dst, skipDirs) {
  mp.FS.mkdirTree(dst);
  for (const ent of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, ent.name), d = dst + "/" + ent.name;
    if (ent.isDirectory()) {
      if (ent.name !== "__pycache__" && !skipDirs.includes(ent.name)) copyTree(s, d, skipDirs);
    } else if (ent.name.endsWith(".py")) {
      mp.FS.writeFile(d, fs.readFileSync(s));
    }
  }
}
copyTree(path.join(root, "firmware/diagbridge"), "/lib/diagbridge", ["cpy"]);
mp.FS.mkdirTree("/tools");
mp.FS.writeFile("/tools/bench_mpy_cantp.py", fs.readFileSync(path.join(root, "tools/bench_mpy_cantp.py")));
try {
  mp.runPython("import sys\nsys.path.append('/tools')\nimport bench_mpy_cantp");
} catch (e) {
  process.stderr.write(`MicroPython error: ${e.type || e.name}: ${String(e.message).trimEnd()}\n`);
  process.exitCode = 1;
}
