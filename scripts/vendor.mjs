// Copies the browser builds of the npm dependencies into static/vendor/ (ignored by git).
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const files = [
  ["socket.io-client/dist/socket.io.min.js", "socket.io/socket.io.min.js"],
  ["socket.io-client/dist/socket.io.min.js.map", "socket.io/socket.io.min.js.map"],
  ["@twilio/voice-sdk/dist/twilio.min.js", "twilio/twilio.min.js"],
  ["chart.js/dist/chart.umd.min.js", "chart.js/chart.umd.min.js"],
];
for (const [from, to] of files) {
  const src = join(root, "node_modules", from);
  const dest = join(root, "static", "vendor", to);
  if (!existsSync(src)) {
    console.error(`missing ${src}: is the package installed?`);
    process.exit(1);
  }
  mkdirSync(dirname(dest), { recursive: true });
  copyFileSync(src, dest);
}
console.log(`static/vendor: ${files.length} files copied`);
