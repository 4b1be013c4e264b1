// Reviewer: flagged-photo queue, alert feed and drift charts (docs/review-and-drift.md).
// Each panel degrades to a plain message when its endpoint is missing (404) or unreachable.

import { api, ApiError } from '../lib/api.js';
import { html, render } from '../lib/html.js';
import { t, when } from '../i18n/index.js';

const MAX_CHARTS = 3;

/** GET that turns 404/501, 5xx and network failures into null, so panels degrade gracefully. */
export async function optional(path) {
  try {
    return await api(path);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 501 || err.status === 0 || err.status >= 500)) return null;
    throw err;
  }
}

const items = (data) => (Array.isArray(data) ? data : data?.items ?? data?.results ?? []);

function queueHtml(queue) {
  if (queue === null) return html`<p class="notice" data-testid="review-unavailable">${t('review.unavailable')}</p>`;
  if (!items(queue).length) return html`<p class="muted" data-testid="review-empty">${t('review.empty')}</p>`;
  return html`<ul class="cards" data-testid="review-queue">${items(queue).map((p) => html`<li>
    <a class="card review-card severity-${p.severity ?? 'low'}" href="#/review/${p.photo_id}">
      ${p.photo_url ? html`<img src="${p.photo_url}" alt="" loading="lazy">` : ''}
      <span><strong>${p.purchase_order?.po_number ?? ''}</strong> · ${p.product?.name ?? ''}${p.batch ? html` · ${p.batch.code}` : ''}</span>
      <span class="badge warn">${t(`review.severity.${p.severity ?? 'low'}`)}</span>
      <span class="muted">${(p.flag_reasons ?? []).join(', ')}${p.flagged_by_inspector ? ` ${t('review.byInspector')}` : ''}</span>
    </a></li>`)}</ul>`;
}

/** Show the review queue and the alert feed. */
export async function show(root) {
  const route = root.dataset.route;
  render(root, html`
    <h1>${t('review.title')}</h1>
    <section id="queue" class="card" aria-busy="true"><p class="muted">${t('app.loading')}</p></section>
    <section id="alerts" class="card" aria-labelledby="alerts-h"><h2 id="alerts-h">${t('review.alerts')}</h2><p class="muted">${t('app.loading')}</p></section>`);
  const [queue, alerts] = await Promise.all([optional('/api/v1/review/queue'), optional('/api/v1/review/alerts?status=active')]);
  if (root.dataset.route !== route) return; // the user has moved on
  const q = root.querySelector('#queue');
  q.setAttribute('aria-busy', 'false');
  render(q, queueHtml(queue));

  const a = root.querySelector('#alerts');
  if (alerts === null) {
    render(a, html`<h2 id="alerts-h">${t('review.alerts')}</h2><p class="notice">${t('review.unavailable')}</p>`);
    return;
  }
  const list = items(alerts);
  const batches = [...new Set(list.map((x) => x.batch_id).filter(Boolean))].slice(0, MAX_CHARTS);
  const charts = await Promise.all(batches.map((b) => optional(`/api/v1/review/batches/${b}/drift`)));
  if (root.dataset.route !== route) return;
  render(a, html`<h2 id="alerts-h">${t('review.alerts')}</h2>
    ${list.length ? html`<ul class="plain alerts" data-testid="alert-feed">${list.map((x) => html`
      <li class="alert level-${x.level}"><strong>${x.batch_code ? `${x.batch_code} · ` : ''}${x.standard_name ?? x.kind ?? ''}</strong> — ${x.message ?? x.direction ?? ''}
        <span class="muted">${x.opened_at ? when(Date.parse(x.opened_at)) : ''} · ${x.level ?? ''} · ${x.status ?? ''}</span></li>`)}</ul>`
      : html`<p class="muted">${t('review.noAlerts')}</p>`}
    ${charts.filter((c) => c?.svg_url).map((c) => html`<h3>${t('review.drift')}${c.batch_code ? ` · ${c.batch_code}` : ''}</h3>
      <img class="chart" src="${c.svg_url}" alt="${t('review.driftAlt')}" data-testid="drift-chart">`)}`);
}
