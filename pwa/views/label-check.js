// Carton label / SKU check: read a barcode or QR code from a photo of the label with the
// browser's BarcodeDetector where it exists (it works offline), or type the code; the code is
// compared with the PO's lines (product SKUs) and the PO number.

import { html, render } from '../lib/html.js';
import { t } from '../i18n/index.js';

/** The code in words: which PO line (or the PO number) it matches, or null. */
export function matchCode(code, expected) {
  const norm = (x) => String(x ?? '').trim().toUpperCase();
  const c = norm(code);
  return expected.find((e) => c && (norm(e.code) === c || c.includes(norm(e.code)))) ?? null;
}

async function detect(file) {
  if (!('BarcodeDetector' in self)) return null;
  const bitmap = await createImageBitmap(file);
  try {
    const found = await new self.BarcodeDetector().detect(bitmap);
    return found[0]?.rawValue ?? '';
  } finally {
    bitmap.close?.();
  }
}

/** Show the check in `el`; `onResult(code, match)` records it (match null: no PO line matches). */
export function showLabelCheck(el, expected, onResult) {
  const scanning = 'BarcodeDetector' in self;
  render(el, html`<h2 id="label-h">${t('label.title')}</h2>
    <p class="muted">${t('label.expected', { codes: expected.map((e) => e.code).join(', ') })}</p>
    ${scanning ? html`<label class="button camera" for="label-photo">${t('label.scan')}</label>
      <input id="label-photo" class="visually-hidden" type="file" accept="image/*" capture="environment">` : ''}
    <form class="inline" data-testid="label-form">
      <label for="label-code" class="visually-hidden">${t('label.code')}</label>
      <input id="label-code" name="code" autocomplete="off" placeholder="${t('label.code')}">
      <button type="submit">${t('label.check')}</button>
    </form>
    <p role="status" aria-live="polite" data-testid="label-result"></p>`);
  const out = el.querySelector('[data-testid="label-result"]');
  const check = async (code) => {
    if (!code) {
      out.textContent = t('label.none');
      out.className = 'problem';
      return;
    }
    const match = matchCode(code, expected);
    out.textContent = match ? t('label.match', { code, what: match.what }) : t('label.mismatch', { code });
    out.className = match ? 'ok-text' : 'problem';
    await onResult(code, match);
  };
  el.querySelector('#label-photo')?.addEventListener('change', async (e) => {
    const file = e.target.files?.[0];
    if (!file) return;
    out.textContent = t('label.reading');
    try {
      const code = await detect(file);
      el.querySelector('#label-code').value = code ?? '';
      await check(code);
    } catch (err) {
      out.textContent = t('label.failed', { detail: err.message });
      out.className = 'problem';
    }
    e.target.value = '';
  });
  el.querySelector('form').addEventListener('submit', (e) => {
    e.preventDefault();
    check(el.querySelector('#label-code').value.trim());
  });
}
