// The inspector's assigned inspections, with PO, product, factory, kind, status and
// whether each is ready offline (template, product and AQL tables on the phone).

import { kvGet, listEntity } from '../lib/db.js';
import { html, render } from '../lib/html.js';
import { prefetchReferenceData } from '../lib/tables.js';
import { t } from '../i18n/index.js';
import { isIos, isStandalone } from '../lib/platform.js';

async function rows(ctx) {
  const [inspections, pos, products, templates, tables] = await Promise.all([
    listEntity('inspection'), listEntity('purchase_order'), listEntity('product'), listEntity('template'),
    kvGet('aql_tables'),
  ]);
  const byId = (list) => new Map(list.map((r) => [r.id, r.fields]));
  const po = byId(pos);
  const product = byId(products);
  const template = byId(templates);
  const orgs = new Map((ctx.session?.user?.memberships ?? []).map((m) => [m.organisation_id, m.organisation_name]));
  return inspections
    .map((r) => {
      const f = r.fields;
      const p = po.get(f.purchase_order_id);
      return {
        id: r.id,
        po: f.po_number ?? p?.po_number ?? '—',
        product: f.product_name ?? product.get(f.product_id)?.name ?? '—',
        factory: f.factory_name ?? p?.factory_name ?? orgs.get(p?.factory_id) ?? '—',
        kind: f.kind,
        status: f.status ?? 'assigned',
        scheduled: f.scheduled_for ?? '',
        ready: Boolean(tables && template.has(f.template_id) && product.has(f.product_id)),
      };
    })
    .sort((a, b) => String(a.scheduled).localeCompare(String(b.scheduled)));
}

/** Show the list; re-render whenever a sync brings changes. */
export async function show(root, ctx) {
  prefetchReferenceData();
  let active = true; // a draw that finishes after we left must not paint over the next view
  const draw = async () => {
    const list = await rows(ctx);
    if (!active) return;
    render(root, html`
      <h1>${t('list.title')}</h1>
      ${isIos() && !isStandalone() ? html`<p class="notice" data-testid="ios-hint">${t('settings.ios')}</p>` : ''}
      ${list.length === 0 ? html`<p class="muted" data-testid="list-empty">${t('list.empty')}</p>` : ''}
      <ul class="cards" data-testid="inspection-list">
        ${list.map((r) => html`
          <li>
            <a class="card inspection-card" href="#/inspection/${r.id}" data-testid="inspection-${r.id}">
              <span class="row"><strong>${t('list.po')} ${r.po}</strong>
                <span class="badge status-${r.status}">${t(`status.${r.status}`)}</span></span>
              <span>${r.product}</span>
              <span class="muted">${t(`kind.${r.kind}`)} · ${t('list.factory')}: ${r.factory}</span>
              <span class="badge ${r.ready ? 'ok' : 'warn'}">${r.ready ? t('list.ready') : t('list.notReady')}</span>
            </a>
          </li>`)}
      </ul>`);
  };
  await draw();
  let wasRunning = ctx.syncState.running;
  const onSync = () => {
    if (wasRunning && !ctx.syncState.running) draw();
    wasRunning = ctx.syncState.running;
  };
  ctx.syncState.addEventListener('change', onSync);
  return () => { active = false; ctx.syncState.removeEventListener('change', onSync); };
}
