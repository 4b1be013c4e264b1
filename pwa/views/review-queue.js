// Reviewer: flagged-photo queue, alert feed and drift chart.
// The review/drift API (/api/v1/review/...) comes from another issue: until it answers,
// each panel says so in plain words instead of failing.

import { api, ApiError } from '../lib/api.js';
import { html, render } from '../lib/html.js';
import { t, when } from '../i18n/index.js';

/** GET that turns 404/501 and network failures into null, so panels degrade gracefully. */
export async function optional(path) {
  try {
    return await api(path);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 501 || err.status === 0 || err.status >= 500)) return null;
    throw err;
  }
}

const items = (data) => (Array.isArray(data) ? data : data?.items ?? data?.results ?? []);

/** Show the review queue. */
export async function show(root) {
  const route = root.dataset.route;
  render(root, html`
    <h1>${t('review.title')}</h1>
    <section id="queue" class="card" aria-busy="true"><p class="muted">${t('app.loading')}</p></section>
    <section id="alerts" class="card"><h2>${t('review.alerts')}</h2><p class="muted">${t('app.loading')}</p></section>`);
  const [queue, alerts] = await Promise.all([optional('/api/v1/review/queue'), optional('/api/v1/review/alerts')]);
  if (root.dataset.route !== route) return; // the user has moved on
  const q = root.querySelector('#queue');
  q.setAttribute('aria-busy', 'false');
  if (queue === null) {
    render(q, html`<p class="notice" data-testid="review-unavailable">${t('review.unavailable')}</p>`);
  } else if (!items(queue).length) {
    render(q, html`<p class="muted">${t('review.empty')}</p>`);
  } else {
    render(q, html`<ul class="cards">${items(queue).map((p) => html`<li>
      <a class="card" href="#/review/${p.id ?? p.photo_id}"><strong>${p.po_number ?? ''} ${p.product_name ?? ''}</strong>
        <span class="muted">${(p.flag_reasons ?? []).join(', ')}</span></a></li>`)}</ul>`);
  }
  const a = root.querySelector('#alerts');
  if (alerts === null) {
    render(a, html`<h2>${t('review.alerts')}</h2><p class="notice">${t('review.unavailable')}</p>`);
  } else {
    render(a, html`<h2>${t('review.alerts')}</h2>${items(alerts).length ? html`<ul class="plain">${items(alerts).map((x) => html`
      <li><strong>${x.title ?? x.kind ?? ''}</strong> ${x.message ?? x.detail ?? ''}
        <span class="muted">${x.created_at ? when(Date.parse(x.created_at)) : ''}</span>
        ${x.batch_id ? html`<img class="chart" src="/api/v1/review/drift/${x.batch_id}.svg" alt="${t('review.driftAlt')}">` : ''}</li>`)}</ul>`
      : html`<p class="muted">${t('review.noAlerts')}</p>`}`);
  }
}
