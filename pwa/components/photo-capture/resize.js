// Fit a photo to what the server takes and the analysis needs: long side at most 4032 px,
// JPEG quality 0.92, EXIF orientation applied (the pixels come out upright, no tag needed).
// Runs in a worker (resize-worker.js) where OffscreenCanvas exists, else on the page.

export const MAX_LONG_SIDE_PX = 4032;
export const JPEG_QUALITY = 0.92;
export const MAX_UPLOAD_BYTES = 20 * 1024 * 1024; // the server takes 25 MB; keep a margin
const ACCEPTED = new Set(['image/jpeg', 'image/png', 'image/webp']);

/** Does this photo have to be re-encoded before upload? */
export function needsResize(width, height, size, type) {
  return Math.max(width, height) > MAX_LONG_SIDE_PX || size > MAX_UPLOAD_BYTES || !ACCEPTED.has(type);
}

/** The size to scale (width, height) to so the long side is at most MAX_LONG_SIDE_PX. */
export function fitted(width, height) {
  const scale = Math.min(1, MAX_LONG_SIDE_PX / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

async function encode(canvas, quality) {
  if (canvas.convertToBlob) return canvas.convertToBlob({ type: 'image/jpeg', quality });
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('encode failed'))),
    'image/jpeg', quality));
}

/**
 * Decode `blob` upright, scale it to fit, re-encode as JPEG (lowering the quality a little only
 * if the result would still be over the upload limit). Answers {blob, width, height}.
 */
export async function resizePhoto(blob) {
  const probe = await createImageBitmap(blob, { imageOrientation: 'from-image' });
  const { width, height } = fitted(probe.width, probe.height);
  probe.close?.();
  const bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image', resizeWidth: width,
    resizeHeight: height, resizeQuality: 'high' });
  const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(width, height)
    : Object.assign(document.createElement('canvas'), { width, height });
  canvas.getContext('2d').drawImage(bitmap, 0, 0);
  bitmap.close?.();
  let out = await encode(canvas, JPEG_QUALITY);
  for (const q of [0.85, 0.75]) {
    if (out.size <= MAX_UPLOAD_BYTES) break;
    out = await encode(canvas, q);
  }
  return { blob: out, width, height };
}
