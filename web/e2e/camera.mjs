// A fake camera for the QR-scanning path: the QR codes of an envelope rendered into a Y4M video
// that chromium plays as its camera (--use-file-for-fake-video-capture). Each part is shown for
// a few frames, then the next; chromium loops the file, so parts arrive in any order, as they
// would from a person holding printed codes in front of a camera.
import QRCode from "qrcode";
import { writeFile } from "node:fs/promises";
import { chromium } from "playwright-core";

const SIZE = 600; // frame width and height, pixels

/** Writes a Y4M (I420) video showing each of `parts` as a QR code for `framesPerPart` frames. */
export async function qrVideo(parts, file, framesPerPart = 6) {
  const header = Buffer.from(`YUV4MPEG2 W${SIZE} H${SIZE} F10:1 Ip A1:1 C420jpeg\n`);
  const chunks = [header];
  for (const part of parts) {
    const frame = qrFrame(part);
    for (let i = 0; i < framesPerPart; i += 1) chunks.push(Buffer.from("FRAME\n"), frame);
  }
  await writeFile(file, Buffer.concat(chunks));
}

function qrFrame(text) {
  const qr = QRCode.create(text, { errorCorrectionLevel: "M" });
  const n = qr.modules.size;
  const quiet = 4;
  const scale = Math.floor(SIZE / (n + 2 * quiet));
  const offset = Math.floor((SIZE - scale * n) / 2);
  const y = Buffer.alloc(SIZE * SIZE, 235); // white
  for (let row = 0; row < n; row += 1) {
    for (let col = 0; col < n; col += 1) {
      if (!qr.modules.get(row, col)) continue;
      for (let dy = 0; dy < scale; dy += 1) {
        const start = (offset + row * scale + dy) * SIZE + offset + col * scale;
        y.fill(16, start, start + scale); // black
      }
    }
  }
  const chroma = Buffer.alloc((SIZE / 2) * (SIZE / 2) * 2, 128);
  return Buffer.concat([y, chroma]);
}

/** A browser whose camera plays `video` (a Y4M file). */
export async function launchWithCamera(video) {
  const browser = await chromium.launch({
    executablePath: process.env.CUSTODY_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-dev-shm-usage",
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-video-capture=${video}`,
    ],
  });
  const context = await browser.newContext({ locale: "zh-CN", viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(["camera"]);
  context.setDefaultTimeout(20_000);
  return { browser, context, page: await context.newPage() };
}
