// Quality hints from a small RGBA thumbnail: too small, too dark, overexposed, blurred.
// Thresholds are deliberately loose: a hint, never a block.

export const MIN_SIDE_PX = 1000;
export const DARK_MEAN = 60; // mean luma 0..255
export const BRIGHT_CLIPPED = 0.25; // share of pixels at >= 250
export const BLUR_LAPLACIAN_VAR = 40;

/**
 * @param {ImageData} pixels thumbnail pixels (RGBA)
 * @param {number} width full photo width in px
 * @param {number} height full photo height in px
 * @returns {{key:string}[]} i18n keys with their parameters
 */
export function photoQuality(pixels, width, height) {
  const out = [];
  if (Math.min(width, height) < MIN_SIDE_PX) out.push({ key: 'photo.tooSmall', w: width, h: height });
  const { data, width: w, height: h } = pixels;
  const luma = new Float32Array(w * h);
  let sum = 0;
  let clipped = 0;
  for (let i = 0, j = 0; i < data.length; i += 4, j += 1) {
    const y = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
    luma[j] = y;
    sum += y;
    if (y >= 250) clipped += 1;
  }
  const n = w * h || 1;
  if (sum / n < DARK_MEAN) out.push({ key: 'photo.tooDark' });
  if (clipped / n > BRIGHT_CLIPPED) out.push({ key: 'photo.tooBright' });
  // Variance of the 4-neighbour Laplacian: low on blurred images.
  let lsum = 0;
  let lsq = 0;
  let m = 0;
  for (let y = 1; y < h - 1; y += 1) {
    for (let x = 1; x < w - 1; x += 1) {
      const k = y * w + x;
      const lap = luma[k - 1] + luma[k + 1] + luma[k - w] + luma[k + w] - 4 * luma[k];
      lsum += lap;
      lsq += lap * lap;
      m += 1;
    }
  }
  if (m > 0) {
    const variance = lsq / m - (lsum / m) ** 2;
    if (variance < BLUR_LAPLACIAN_VAR) out.push({ key: 'photo.blurry' });
  }
  return out;
}
