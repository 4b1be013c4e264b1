// Purchase orders, riskiest first (GET /api/v1/purchase-orders/risk, docs/timeline.md), for
// brand users and factory managers. Online data: the last answer is kept in IndexedDB (kv) so
// the list still shows offline, with "as of <time>".

import { api, ApiError } from '../lib/api.js';
import { kvGet, kvSet, listEntity } from '../lib/db.js';
import { html, render } from '../lib/html.js';
import { t, when } from '../i18n/index.js';

/**
 * GET `path`; on success keep the answer under kv `key` and return {data, at, live: true}.
 * On a network failure (or 5xx) return the cached copy {data, at, live: false, error}, or
 * {data: null, error} when nothing is cached (a copy saved for another user does not count). Other errors (401, 403, 404) are thrown.
 */
export async function fetchCached(path, key, userId) {
  try {
    const data = await api(path);
    const at = Date.now();
    await kvSet(key, { at, data, user: userId ?? null });
    return { data, at, live: true };
  } catch (err) {
    if (!(err instanceof ApiError) || !err.retryable) throw err;
    let cached = await kvGet(key);
    if (cached && cached.user !== (userId ?? null)) cached = null; // another person's copy: never shown
    return { data: cached?.data ?? null, at: cached?.at ?? null, live: false, error: err };
  }
}

/** The "as of" line and, when the network failed, a plain message. */
export function freshness(result) {
  if (result.live) return html`<p class="muted small-text" data-testid="as-of">${t('po.asOf', { when: when(result.at) })}</p>`;
  const why = result.error?.status === 0 ? t('po.offline') : t('po.serverDown');
  return html`<p class="notice" role="status" data-testid="po-offline">${why}</p>
    ${result.at ? html`<p class="muted small-text" data-testid="as-of">${t('po.asOf', { when: when(result.at) })}</p>` : ''}`;
}

/** A plain message for an answer that cannot be shown (not found, not allowed, signed out). */
export function failure(err) {
  if (err instanceof ApiError && err.status === 401) return t('po.signin');
  if (err instanceof ApiError && (err.status === 403 || err.status === 404)) return t('po.notFound');
  return t('po.failed', { detail: err.message });
}

/** Risk level as a badge: the word and its colour. */
export function riskBadge(risk) {
  const level = risk?.level ?? 'low';
  return html`<span class="badge risk-${level}" data-testid="risk">${t(`po.risk.${level}`)}${risk ? ` (${risk.score})` : ''}</span>`;
}

async function factoryNames(ctx) {
  const names = new Map((ctx.session?.user?.memberships ?? []).map((m) => [m.organisation_id, m.organisation_name]));
  try {
    for (const r of await listEntity('purchase_order')) {
      if (r.fields.factory_name) names.set(r.fields.factory_id, r.fields.factory_name);
    }
  } catch { /* nothing synced yet */ }
  return names;
}

/** Show the risk-sorted list of purchase orders. */
export async function show(root, ctx) {
  const route = root.dataset.route;
  render(root, html`<h1>${t('po.listTitle')}</h1><p class="muted" aria-busy="true">${t('app.loading')}</p>`);
  let result;
  try {
    result = await fetchCached('/api/v1/purchase-orders/risk', 'po_risk', ctx.session?.user?.id);
  } catch (err) {
    if (root.dataset.route !== route) return;
    render(root, html`<h1>${t('po.listTitle')}</h1><p class="notice" data-testid="po-error">${failure(err)}</p>`);
    return;
  }
  const names = await factoryNames(ctx);
  if (root.dataset.route !== route) return; // the user has moved on
  const rows = Array.isArray(result.data) ? result.data : [];
  render(root, html`<h1>${t('po.listTitle')}</h1>
    ${freshness(result)}
    ${result.data && !rows.length ? html`<p class="muted" data-testid="po-empty">${t('po.empty')}</p>` : ''}
    <ul class="cards" data-testid="po-list">${rows.map((r) => {
      const po = r.purchase_order;
      return html`<li><a class="card po-card risk-edge-${r.risk?.level ?? 'low'}" href="#/timeline/${po.id}" data-testid="po-${po.id}">
        <span class="row"><strong>${po.po_number}</strong>${riskBadge(r.risk)}</span>
        <span>${t('list.factory')}: ${names.get(po.factory_id) ?? '—'}</span>
        <span>${t('po.shipDate')}: ${po.planned_ship_date ?? '—'}</span>
        <span class="${r.open_alerts ? 'warn-text' : 'muted'}">${t('po.openAlerts', { n: r.open_alerts ?? 0 })}${r.overdue_issues ? ` · ${t('po.overdueIssues', { n: r.overdue_issues })}` : ''}</span>
        ${r.top_attention ? html`<span class="muted small-text">${r.top_attention}</span>` : ''}
      </a></li>`;
    })}</ul>`);
}
