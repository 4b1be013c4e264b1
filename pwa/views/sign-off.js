// The sign-off step of an inspection: what is missing and what failed, the inspector's name and
// a drawn signature (vector strokes), then one mutation {status: 'signed_off', signature}. After
// it the inspection is read-only on the phone (and frozen on the server).

import { html, render } from '../lib/html.js';
import { clock, t } from '../i18n/index.js';

const PAD_HEIGHT = 160;

/** The signature as an inline SVG template (strokes in the pad's own pixels). */
export function signatureSvg(sig, testid = 'signature') {
  if (!sig?.strokes?.length) return '';
  const points = (stroke) => stroke.map(([x, y]) => `${x},${y}`).join(' ');
  return html`<figure class="signature" data-testid="${testid}">
    <svg viewBox="0 0 ${sig.width} ${sig.height}" role="img" aria-label="${t('signoff.signatureOf', { name: sig.name })}">
      ${sig.strokes.map((s) => html`<polyline points="${points(s)}"></polyline>`)}
    </svg>
    <figcaption>${t('signoff.signedBy', { name: sig.name, when: clock(Date.parse(sig.signed_at)) })}</figcaption>
  </figure>`;
}

/** A drawing pad on a canvas: pointer strokes kept as vectors. */
class SignaturePad {
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.strokes = [];
    this.onChange = onChange;
    const ratio = window.devicePixelRatio || 1;
    this.width = Math.round(canvas.clientWidth) || 300;
    this.height = PAD_HEIGHT;
    canvas.width = this.width * ratio;
    canvas.height = this.height * ratio;
    this.g = canvas.getContext('2d');
    this.g.scale(ratio, ratio);
    this.g.lineWidth = 2.5;
    this.g.lineCap = 'round';
    this.g.lineJoin = 'round';
    this.g.strokeStyle = '#0b0c10';
    const at = (e) => {
      const r = canvas.getBoundingClientRect();
      const x = Math.min(this.width, Math.max(0, e.clientX - r.left));
      const y = Math.min(this.height, Math.max(0, e.clientY - r.top));
      return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
    };
    canvas.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      canvas.setPointerCapture?.(e.pointerId);
      this.current = [at(e)];
      this.strokes.push(this.current);
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!this.current) return;
      const p = at(e);
      const last = this.current[this.current.length - 1];
      this.current.push(p);
      this.g.beginPath();
      this.g.moveTo(last[0], last[1]);
      this.g.lineTo(p[0], p[1]);
      this.g.stroke();
    });
    const end = () => { if (this.current) { this.current = null; this.onChange(); } };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
  }

  clear() {
    this.strokes = [];
    this.g.clearRect(0, 0, this.width, this.height);
    this.onChange();
  }

  /** Strokes with at least two points (a tap is not a signature). */
  drawn() {
    return this.strokes.filter((s) => s.length > 1);
  }
}

/**
 * Show the sign-off panel in `el`. `summary` = {missing: [label], failed: [label], outOfTolerance: n,
 * defects: {critical, major, minor}, photosWaiting: n, problems: n, verdict}; `onSign(signature)`
 * stores the sign-off and resolves once it is on the phone.
 */
export function showSignOff(el, { summary, name, onSign, onCancel }) {
  const missing = summary.missing ?? [];
  render(el, html`<div class="card signoff" data-testid="signoff">
    <h2 id="signoff-h">${t('signoff.title')}</h2>
    <p class="verdict verdict-${summary.verdict}">${t('insp.verdict')}: <strong>${t(`verdict.${summary.verdict}`)}</strong></p>
    ${missing.length ? html`<div class="problem" data-testid="signoff-missing">
        <p>${t('signoff.missing', { k: missing.length, n: summary.required })}</p>
        <ul>${missing.map((m) => html`<li>${m}</li>`)}</ul></div>`
      : html`<p class="ok-text" data-testid="signoff-missing">${t('signoff.complete', { n: summary.required })}</p>`}
    <ul class="plain" data-testid="signoff-summary">
      ${summary.failed.length ? html`<li>${t('signoff.failed', { n: summary.failed.length })}: ${summary.failed.join(', ')}</li>` : ''}
      ${summary.outOfTolerance ? html`<li>${t('signoff.outOfTolerance', { n: summary.outOfTolerance })}</li>` : ''}
      <li>${t('signoff.defects', { critical: summary.defects.critical ?? 0, major: summary.defects.major ?? 0, minor: summary.defects.minor ?? 0 })}</li>
      ${summary.photosWaiting ? html`<li>${t('signoff.photosWaiting', { n: summary.photosWaiting })}</li>` : ''}
      ${summary.problems ? html`<li class="problem">${t('signoff.problems', { n: summary.problems })}</li>` : ''}
    </ul>
    <label for="signer">${t('signoff.name')}</label>
    <input id="signer" autocomplete="name" value="${name ?? ''}" required>
    <p class="label" id="pad-label">${t('signoff.sign')}</p>
    <canvas class="signature-pad" height="${PAD_HEIGHT}" aria-labelledby="pad-label" data-testid="signature-pad"></canvas>
    <button type="button" class="small" data-sig="clear">${t('signoff.clear')}</button>
    ${missing.length ? html`<label class="check"><input type="checkbox" data-sig="ack"> ${t('signoff.ack', { k: missing.length })}</label>` : ''}
    <p class="muted">${t('signoff.final')}</p>
    <div class="choices">
      <button type="button" class="primary" data-sig="sign" disabled>${t('signoff.confirm')}</button>
      <button type="button" data-sig="cancel">${t('signoff.cancel')}</button>
    </div>
    <p class="problem" role="alert" data-testid="signoff-error" hidden></p>
  </div>`);
  const button = el.querySelector('[data-sig="sign"]');
  const ack = el.querySelector('[data-sig="ack"]');
  const signer = el.querySelector('#signer');
  const update = () => {
    button.disabled = !(pad.drawn().length && signer.value.trim() && (!ack || ack.checked));
  };
  const pad = new SignaturePad(el.querySelector('canvas'), update);
  signer.addEventListener('input', update);
  ack?.addEventListener('change', update);
  el.querySelector('[data-sig="clear"]').addEventListener('click', () => pad.clear());
  el.querySelector('[data-sig="cancel"]').addEventListener('click', () => { render(el, html``); onCancel?.(); });
  button.addEventListener('click', async () => {
    button.disabled = true;
    const signature = { name: signer.value.trim(), signed_at: new Date().toISOString(), width: pad.width,
      height: pad.height, strokes: pad.drawn() };
    try {
      await onSign(signature);
    } catch (err) {
      const out = el.querySelector('[data-testid="signoff-error"]');
      out.textContent = t('insp.saveFailed', { detail: err?.message ?? String(err) });
      out.hidden = false;
      update();
    }
  });
  el.scrollIntoView?.({ block: 'start' });
}
