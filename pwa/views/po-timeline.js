// PO timeline: the place for the purchase-order timeline view (production schedule and
// progress, inspections, freight readiness, issues). A later issue fills it in.
// Contract for that work: show(root, ctx, poId) renders into root and may return a cleanup
// function; read synced rows with lib/db.js (listEntity('purchase_order'), ...) and fetch the
// timeline API with lib/api.js; render only through lib/html.js.

import { getRecord } from '../lib/db.js';
import { html, render } from '../lib/html.js';
import { t } from '../i18n/index.js';

/** Show the timeline of one PO (placeholder until the timeline issue lands). */
export async function show(root, ctx, poId) {
  const po = await getRecord('purchase_order', poId);
  render(root, html`<h1>${t('timeline.title')}${po ? html` · ${po.fields.po_number}` : ''}</h1>
    <p class="muted">${t('timeline.soon')}</p>`);
}
