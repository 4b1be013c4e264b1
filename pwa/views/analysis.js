// The photo analysis result in words (docs/photo-analysis.md §4): status, colour difference and
// sizes with their uncertainty, the light's colour temperature, confidence and reasons.
// Results stored before a field existed lack it: a missing field is simply not shown.

import { html } from '../lib/html.js';
import { lang, t } from '../i18n/index.js';

const num = (x) => typeof x === 'number' && Number.isFinite(x);
const fmt = (x, digits = 1) => (num(x) ? x.toFixed(digits) : '—');
const pm = (value, u, digits = 1) => (num(u) ? `${fmt(value, digits)} ± ${fmt(u, digits)}` : fmt(value, digits));

/** The reasons: the server's English text (it carries the numbers), else each code in words. */
function reasons(a) {
  const codes = Array.isArray(a.reason_codes) ? a.reason_codes : [];
  const texts = Array.isArray(a.reasons) ? a.reasons : [];
  if (!codes.length) return texts;
  return codes.map((code, i) => {
    const key = `reason.${code}`;
    const word = t(key);
    if (lang() === 'en' && texts[i]) return texts[i];
    return word === key ? (texts[i] ?? String(code).replace(/_/g, ' ')) : word;
  });
}

/** The analysis block for one photo, or '' when there is no result yet. */
export function analysisHtml(a, testid = 'analysis') {
  if (!a || typeof a !== 'object' || !a.status) return '';
  const list = reasons(a);
  return html`<div class="analysis analysis-${a.status}" data-testid="${testid}">
    <p><strong>${t(`analysis.status.${a.status}`)}</strong>${num(a.confidence) ? html` · ${t('analysis.confidence', { pct: Math.round(a.confidence * 100) })}` : ''}</p>
    <dl class="facts">
      ${num(a.delta_e_cie2000) ? html`<dt>${t('analysis.colour')}</dt><dd data-testid="analysis-de">ΔE00 ${pm(a.delta_e_cie2000, a.delta_e_u)}</dd>` : ''}
      ${num(a.length_mm) ? html`<dt>${t('analysis.length')}</dt><dd data-testid="analysis-length">${pm(a.length_mm, a.length_u_mm)} mm</dd>` : ''}
      ${num(a.width_mm) ? html`<dt>${t('analysis.width')}</dt><dd>${pm(a.width_mm, a.width_u_mm)} mm</dd>` : ''}
      ${num(a.light_cct_k) ? html`<dt>${t('analysis.light')}</dt><dd data-testid="analysis-cct">${Math.round(a.light_cct_k)} K</dd>` : ''}
    </dl>
    ${list.length ? html`<ul class="reasons" data-testid="analysis-reasons">${list.map((r) => html`<li>${r}</li>`)}</ul>` : ''}
  </div>`;
}
