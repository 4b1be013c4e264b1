// <photo-capture>: take a photo with the camera, fit it to the server's limits (resize.js, in a
// worker), preview it, hint at its quality, hash it. Emits 'photo-taken' with {blob, original,
// thumb, sha256, size, type, width, height, hints, waitUntil}; the view saves it (metadata +
// blob) in one IndexedDB transaction and hands that promise to waitUntil(). Nothing says the
// photo is fine until that write has completed; a failed write stays on screen, next to the
// camera button, until the next photo is taken.
// Properties: label (button text).

import { html, render } from '../../lib/html.js';
import { t } from '../../i18n/index.js';
import { photoQuality } from './quality.js';
import { needsResize, resizePhoto } from './resize.js';

const THUMB_PX = 320;

/** Hex sha256 of a Blob (Web Crypto). */
export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Resize in a module worker (OffscreenCanvas); on the page where workers cannot. */
async function resizeOffThread(blob) {
  if (typeof OffscreenCanvas === 'undefined' || typeof Worker === 'undefined') return resizePhoto(blob);
  let worker;
  try {
    worker = new Worker(new URL('./resize-worker.js', import.meta.url), { type: 'module' });
  } catch {
    return resizePhoto(blob);
  }
  try {
    const answer = await new Promise((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(new Error(e.message || 'resize worker failed'));
      worker.postMessage({ blob });
    });
    if (!answer.ok) throw new Error(answer.error);
    return answer;
  } finally {
    worker.terminate();
  }
}

/** Is this a storage-full failure (IndexedDB quota)? */
export function isQuotaError(err) {
  return err?.name === 'QuotaExceededError' || /quota/i.test(String(err?.message ?? ''));
}

async function decode(blob) {
  if (self.createImageBitmap) return createImageBitmap(blob, { imageOrientation: 'from-image' });
  const url = URL.createObjectURL(blob);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}

async function thumbnail(bitmap) {
  const w = bitmap.width;
  const h = bitmap.height;
  const scale = Math.min(1, THUMB_PX / Math.max(w, h));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(w * scale));
  canvas.height = Math.max(1, Math.round(h * scale));
  const g = canvas.getContext('2d', { willReadFrequently: true });
  g.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const pixels = g.getImageData(0, 0, canvas.width, canvas.height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.7));
  return { blob, pixels };
}

class PhotoCapture extends HTMLElement {
  connectedCallback() {
    if (this.rendered) return;
    this.rendered = true;
    const id = `pc-${Math.random().toString(36).slice(2, 9)}`;
    render(this, html`
      <label class="button camera" for="${id}">${this.label ?? t('photo.take')}</label>
      <input id="${id}" class="visually-hidden" type="file" accept="image/*" capture="environment">
      <p class="hint" aria-live="polite"></p>
      <p class="problem" role="alert" data-testid="photo-not-saved" hidden></p>
      <img class="preview" alt="${t('photo.preview')}" hidden>`);
    this.querySelector('input').addEventListener('change', (e) => this.take(e.target.files?.[0]));
  }

  async take(file) {
    if (!file) return;
    const hint = this.querySelector('.hint');
    const problem = this.querySelector('.problem');
    const img = this.querySelector('.preview');
    problem.hidden = true;
    problem.textContent = '';
    hint.textContent = t('photo.working');
    delete hint.dataset.level;
    try {
      let bitmap = await decode(file);
      let blob = file;
      let original = null;
      let { width, height } = bitmap;
      if (needsResize(width, height, file.size, file.type)) {
        // Too big for the server (or an odd format): upright, long side 4032 px, JPEG 0.92.
        hint.textContent = t('photo.resizing');
        bitmap.close?.();
        ({ blob, width, height } = await resizeOffThread(file));
        original = file; // kept on the phone until the server has verified the upload
        bitmap = await decode(blob);
      }
      const { blob: thumb, pixels } = await thumbnail(bitmap);
      bitmap.close?.();
      const hints = photoQuality(pixels, width, height);
      const sha256 = await sha256Hex(blob);
      const waits = [];
      hint.textContent = t('photo.saving');
      this.dispatchEvent(new CustomEvent('photo-taken', {
        bubbles: true,
        detail: { blob, original, thumb, sha256, size: blob.size, type: blob.type || file.type || 'image/jpeg',
          width, height, hints: hints.map((h) => h.key), waitUntil: (p) => waits.push(p) },
      }));
      await Promise.all(waits); // stored on the phone (or it throws): only now say so
      if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
      this.previewUrl = URL.createObjectURL(thumb);
      img.src = this.previewUrl;
      img.hidden = false;
      hint.textContent = hints.length ? hints.map((h) => t(h.key, h)).join(' ') : t('photo.ok');
      hint.dataset.level = hints.length ? 'warn' : 'ok';
    } catch (err) {
      hint.textContent = '';
      img.hidden = true;
      problem.textContent = isQuotaError(err) ? t('photo.notSavedFull') : t('photo.notSaved', { detail: err?.message ?? String(err) });
      problem.hidden = false;
    } finally {
      this.querySelector('input').value = '';
    }
  }

  disconnectedCallback() {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
  }
}

customElements.define('photo-capture', PhotoCapture);
