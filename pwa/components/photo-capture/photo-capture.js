// <photo-capture>: take a photo with the camera, preview it, hint at its quality, hash it.
// Emits 'photo-taken' with {blob, thumb, sha256, size, type, width, height, hints} once the
// photo is read; the view saves it (metadata + blob) in one IndexedDB transaction.
// Properties: label (button text).

import { html, render } from '../../lib/html.js';
import { t } from '../../i18n/index.js';
import { photoQuality } from './quality.js';

const THUMB_PX = 320;

/** Hex sha256 of a Blob (Web Crypto). */
export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function decode(blob) {
  if (self.createImageBitmap) return createImageBitmap(blob);
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
      <img class="preview" alt="${t('photo.preview')}" hidden>`);
    this.querySelector('input').addEventListener('change', (e) => this.take(e.target.files?.[0]));
  }

  async take(file) {
    if (!file) return;
    const hint = this.querySelector('.hint');
    hint.textContent = t('photo.working');
    try {
      const bitmap = await decode(file);
      const { blob: thumb, pixels } = await thumbnail(bitmap);
      const hints = photoQuality(pixels, bitmap.width, bitmap.height);
      const sha256 = await sha256Hex(file);
      const img = this.querySelector('.preview');
      if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
      this.previewUrl = URL.createObjectURL(thumb);
      img.src = this.previewUrl;
      img.hidden = false;
      hint.textContent = hints.length ? hints.map((h) => t(h.key, h)).join(' ') : t('photo.ok');
      hint.dataset.level = hints.length ? 'warn' : 'ok';
      this.dispatchEvent(new CustomEvent('photo-taken', {
        bubbles: true,
        detail: { blob: file, thumb, sha256, size: file.size, type: file.type || 'image/jpeg',
          width: bitmap.width, height: bitmap.height, hints: hints.map((h) => h.key) },
      }));
      this.querySelector('input').value = '';
    } catch (err) {
      hint.textContent = t('insp.saveFailed', { detail: err.message });
    }
  }

  disconnectedCallback() {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
  }
}

customElements.define('photo-capture', PhotoCapture);
